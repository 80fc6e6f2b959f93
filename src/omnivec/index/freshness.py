"""How stale is an index? Serialised updates that remember when they ran, and a cheap disk check.

A long-running process (the MCP server) keeps one `UpdateTracker` per index: every update goes
through it, so the watcher and explicit refreshes never run at once, and `staleness` can say when
the index last caught up, whether an update is running, and how many files on disk differ from
what is indexed (one `stat` per file, the same check the indexer uses to skip unchanged files).

>>> tracker = UpdateTracker()                                   # doctest: +SKIP
>>> tracker.run(idx)                                            # doctest: +SKIP
>>> staleness(idx, tracker)["changed_files"]                    # doctest: +SKIP
0
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnivec.index.discovery import STORE_DIRNAME
from omnivec.index.progress import ProgressCallback
from omnivec.ingest import SourceFile, walk
from omnivec.stores.base import INDEXED

if TYPE_CHECKING:
    from omnivec.api import Index
    from omnivec.index.updater import IndexReport

EXAMPLES = 5  # changed paths named in a report; an agent's context is small


@dataclass(frozen=True)
class Pending:
    """Files whose current version on disk is not what the index holds."""

    new: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    current: int = 0  # indexable files whose indexed version matches the disk

    @property
    def changed(self) -> int:
        return len(self.new) + len(self.modified) + len(self.deleted)

    @property
    def embedded_share(self) -> float:
        """The share of indexable files on disk whose current version is embedded."""
        total = self.current + len(self.new) + len(self.modified)
        return round(self.current / total, 4) if total else 1.0


def pending_changes(
    idx: Index, known_skips: frozenset[str] = frozenset(), budget_s: float | None = None
) -> Pending | None:
    """Compare the files under the index's root with the store by (size, mtime), as the indexer does.

    `known_skips` are paths the last update could not index (not counted as new);
    returns None when the walk takes longer than `budget_s` (a very large tree).
    """
    sources = idx.store.sources()
    start = time.monotonic()
    new: list[str] = []
    modified: list[str] = []
    seen: set[str] = set()
    current = 0
    root = Path(idx.config.root)
    ignores = (STORE_DIRNAME, *idx.walk_ignores())
    for n, entry in enumerate(walk(root, max_file_bytes=idx.config.max_file_bytes, extra_ignores=ignores)):
        if budget_s is not None and n % 256 == 255 and time.monotonic() - start > budget_s:
            return None
        seen.add(entry.path)
        if not isinstance(entry, SourceFile) or entry.path in known_skips:
            continue  # a file the indexer leaves out keeps whatever it had; not a change
        old = sources.get(entry.path)
        if old is None or old.status != INDEXED:
            new.append(entry.path)
        elif (old.size, old.mtime_ns) != (entry.size, entry.mtime_ns):
            modified.append(entry.path)
        else:
            current += 1
    deleted = sorted(set(sources) - seen)
    return Pending(new=new, modified=modified, deleted=deleted, current=current)


@dataclass(frozen=True)
class TrackerState:
    updates: int
    last_finished: float | None
    running_since: float | None
    watching: bool
    watch_error: str | None


class UpdateTracker:
    """Runs one index's updates one at a time and remembers the last one. Thread-safe."""

    def __init__(self) -> None:
        self._run_lock = threading.Lock()  # one update at a time: watcher and explicit refreshes
        self._lock = threading.Lock()  # the fields below
        self.updates = 0
        self.last_finished: float | None = None  # time.time() of the last finished update
        self.last_report: dict[str, Any] | None = None
        self.running_since: float | None = None
        self.watching = False
        self.watch_error: str | None = None
        self._skips: frozenset[str] = frozenset()
        self._too_large = False  # a bounded check ran out of time once: the tree is large

    def run(self, idx: Index, progress: ProgressCallback | None = None) -> IndexReport:
        """`idx.update(progress)`, after any update already running has finished."""
        with self._run_lock:
            with self._lock:
                self.running_since = time.time()
            try:
                report = idx.update(progress=progress)
            finally:
                with self._lock:
                    self.running_since = None
            self.finished(report)
            return report

    def finished(self, report: IndexReport) -> None:
        with self._lock:
            self.updates += 1
            self.last_finished = time.time()
            self.last_report = report.as_dict()
            self._skips = frozenset(p for p, _ in report.skipped)

    def state(self) -> TrackerState:
        with self._lock:
            return TrackerState(
                self.updates, self.last_finished, self.running_since, self.watching, self.watch_error
            )

    def set_watching(self, on: bool, error: str | None = None) -> None:
        with self._lock:
            self.watching, self.watch_error = on, error

    def pending(self, idx: Index, budget_s: float | None = None) -> Pending | None:
        """`pending_changes` against the last update's skips.

        Never cached: an agent that edits a file and searches at once must be told. A tree that
        once took longer than a bounded check's budget is not walked by bounded checks again.
        """
        with self._lock:
            skips, too_large = self._skips, self._too_large
        if budget_s is not None and too_large:
            return None
        result = pending_changes(idx, skips, budget_s)
        if result is None:
            with self._lock:
                self._too_large = True
        return result


def staleness(idx: Index, tracker: UpdateTracker, budget_s: float | None = None) -> dict[str, Any]:
    """What an agent needs to trust a result: when the index caught up and what changed since."""
    st = tracker.state()
    finished, updating = st.last_finished, st.running_since is not None
    on_disk = finished is None
    if on_disk:  # nothing ran in this process yet: the store's own last write
        finished = max((c.updated for c in idx.store.collections()), default=None)
    pending = tracker.pending(idx, budget_s)
    out: dict[str, Any] = {
        "last_update": _iso(finished),
        "seconds_since_update": round(time.time() - finished, 1) if finished else None,
        "last_update_by": "index on disk" if on_disk else "this server",
        "updates_since_start": st.updates,
        "updating": updating,
        "watching": st.watching,
        "changed_files": pending.changed if pending else None,
        "embedded_share": pending.embedded_share if pending else None,
    }
    if pending and pending.changed:
        out["changed"] = {
            name: {"count": len(paths), "examples": paths[:EXAMPLES]}
            for name, paths in (("new", pending.new), ("modified", pending.modified), ("deleted", pending.deleted))
            if paths
        }  # fmt: skip
    if st.watch_error:
        out["watch_error"] = st.watch_error
    out["summary"] = _summary(pending, updating, st.watching, budget_s)
    return out


def _summary(pending: Pending | None, updating: bool, watching: bool, budget_s: float | None) -> str:
    if pending is None:
        return f"changes on disk not counted (the tree took over {budget_s}s to scan); status counts them"
    n = pending.changed
    files = f"{n} changed file{'' if n == 1 else 's'}"
    if updating:
        return f"an update is running; {files} not searchable yet"
    if not n:
        return "current: the index matches the files on disk"
    if watching:
        return f"{files} since the last update; the watcher is indexing them (index refreshes now)"
    return f"{files} since the last update and no watcher runs; call index to refresh"


def _iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts)) if ts else None
