"""`AgentSession`: one index kept current while an agent works, and the four tools it calls.

Each tool is a thin layer over library calls that returns plain JSON-ready data sized for an
agent's context: trimmed snippets, and with every answer how stale the index is. The MCP server
(`omnivec.agent.mcp_server`) only maps these onto the protocol; tests call them directly too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omnivec.api import Index
from omnivec.errors import InputError, StoreError
from omnivec.index.background import BackgroundWatcher
from omnivec.index.config import IndexConfig
from omnivec.index.discovery import default_store, find_store
from omnivec.index.freshness import UpdateTracker, staleness
from omnivec.index.progress import ProgressCallback
from omnivec.search.query import Query
from omnivec.search.snippet import trim_snippet
from omnivec.stores.uri import store_folder
from omnivec.types import Hit

log = logging.getLogger(__name__)

MAX_K = 50  # more hits than this would crowd an agent's context out


@dataclass(frozen=True)
class AgentOptions:
    """How results are sized and how the index is kept current."""

    watch: bool = True
    debounce_ms: int = 300
    snippet_lines: int = 12
    snippet_chars: int = 800
    #: a search spends at most this long counting changed files (status always counts them all)
    check_budget_s: float = 0.5


class AgentSession:
    """An `Index` opened for an agent: the writer when it can be had, read-only otherwise."""

    def __init__(self, idx: Index, options: AgentOptions | None = None, read_only_reason: str = "") -> None:
        self.idx = idx
        self.options = options or AgentOptions()
        self.read_only_reason = read_only_reason
        self.tracker = UpdateTracker()
        self._watcher: BackgroundWatcher | None = None

    @classmethod
    def open(
        cls,
        path: Path | None = None,
        store: str | None = None,
        *,
        text_model: str | None = None,
        image_model: str | None = "default",
        screenshot_model: str | None = "default",
        options: AgentOptions | None = None,
    ) -> AgentSession:
        """Open (or create) the index of `path`; models default to the ones the store was built with.

        If another process holds the writer lock, the index is opened read-only: searches work,
        `index` refuses, and nothing is watched.
        """
        root, sdir = _locate(path, store)
        old = IndexConfig.load(sdir)
        if old is not None:
            text_model = text_model or old.text_model
            image_model = old.image_model if image_model == "default" else image_model
            screenshot_model = old.screenshot_model if screenshot_model == "default" else screenshot_model
        try:
            idx = Index.create(
                root, sdir, text_model=text_model, image_model=image_model, screenshot_model=screenshot_model
            )
        except StoreError as exc:
            if old is None:
                raise
            log.warning("opening %s read-only: %s", sdir, exc)
            return cls(Index.open(sdir), options, read_only_reason=exc.received)
        return cls(idx, options)

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> AgentSession:
        """Start the background watcher (unless disabled or read-only)."""
        if self.options.watch and not self.read_only_reason and self._watcher is None:
            self._watcher = BackgroundWatcher(self.idx, self.tracker, self.options.debounce_ms).start()
        return self

    def close(self) -> None:
        """Stop watching, then close the index (left to crash safety if an update will not stop)."""
        stopped = self._watcher.stop() if self._watcher is not None else True
        if stopped:
            self.idx.close()
        else:
            log.warning("an update was still running at shutdown; the store is crash-safe, leaving it")

    def __enter__(self) -> AgentSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- tools -------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 10,
        type: str = "any",
        path_glob: str | None = None,
        language: str | None = None,
    ) -> dict[str, Any]:
        """Hybrid search; hits with trimmed snippets, the keyword engine that answered (once, not
        per hit: an agent's context is short), and how stale the index is."""
        _check_k(k)
        q = Query(text=query, k=k, type=type, path_glob=path_glob, languages=(language,) if language else ())
        hits = self.idx.search(q)
        return {
            "results": [self._compact(h) for h in hits],
            "keyword_engine": hits.keyword_engine,
            "index": self._staleness(bounded=True),
        }

    def find_related(self, path: str, line: int, k: int = 5, same_file: bool = False) -> dict[str, Any]:
        """Chunks similar to the one at `path:line`, from other files unless `same_file`."""
        _check_k(k)
        rel = self.idx.relative_path(path)
        hits = self.idx.find_related(rel, line, k, same_file=same_file)
        return {
            "from": {"path": rel, "line": line},
            "results": [self._compact(h) for h in hits],
            "index": self._staleness(bounded=True),
        }

    def index(self, path: str | None = None, progress: ProgressCallback | None = None) -> dict[str, Any]:
        """Bring the index of the root up to date (incremental); `path` must be the root or inside it."""
        if self.read_only_reason:
            raise StoreError(
                received=f"an index request while this server has the index read-only ({self.read_only_reason})",
                expected="a server that holds the index's writer lock",
                fix="stop the other omnivec process writing to it, then restart this server",
            )
        self._check_inside_root(path)
        report = self.tracker.run(self.idx, progress)
        out = {"root": self.idx.config.root, "store": str(self.idx.store_dir), **report.as_dict()}
        out["skips"] = out["skips"][:20]  # all of them are in `omnivec index --json`
        return {**out, "index": self._staleness(bounded=False)}

    def status(self) -> dict[str, Any]:
        """What `omnivec status --json` says, plus how stale the index is."""
        info = self.idx.status()
        for coll in info["collections"]:
            coll.pop("recipe", None)  # long and of no use to an agent; `omnivec status` shows it
        return {**info, "read_only": self.read_only_reason or False, "index": self._staleness(bounded=False)}

    # --- helpers -----------------------------------------------------------------------
    def _staleness(self, bounded: bool) -> dict[str, Any]:
        budget = self.options.check_budget_s if bounded else None
        return staleness(self.idx, self.tracker, budget_s=budget)

    def _compact(self, hit: Hit) -> dict[str, Any]:
        snip = trim_snippet(
            hit.snippet,
            start_line=hit.start_line,
            max_lines=self.options.snippet_lines,
            max_chars=self.options.snippet_chars,
        )
        out: dict[str, Any] = {
            "path": hit.path, "start_line": hit.start_line, "end_line": hit.end_line,
            "symbol": hit.symbol, "kind": hit.kind, "language": hit.language,
            "score": round(hit.score, 4), **_scores(hit), "snippet": snip.text,
        }  # fmt: skip
        if snip.trimmed:
            out["snippet_trimmed"] = snip.note
        if hit.metadata.get("page"):
            out["page"] = hit.metadata["page"]
        return out

    def _check_inside_root(self, path: str | None) -> None:
        if path is None or path in ("", "."):
            return
        root = Path(self.idx.config.root)
        given = Path(path) if Path(path).is_absolute() else root / path
        if not given.resolve().is_relative_to(root):
            raise InputError(
                received=f"path {path!r}, outside the folder this server indexes ({root})",
                expected=f"{root} or a folder inside it (the whole root is refreshed)",
                fix=f"call index without a path, or start another server: omnivec mcp {path}",
            )
        if not given.is_dir():
            raise InputError(
                received=f"path {path!r}, " + ("a file" if given.exists() else "which does not exist"),
                expected=f"{root} or a folder inside it (the whole root is refreshed)",
                fix="call index without a path: it refreshes every file, this one included",
            )


def _locate(path: Path | None, store: str | None) -> tuple[Path, Path]:
    """(root, store folder) from what the command line gave."""
    if store is not None:
        sdir = store_folder(store)
        old = IndexConfig.load(sdir)
        if path is None and old is None:
            raise StoreError(
                received=f"--store {store} without a PATH, and no index there",
                expected="an existing index, or a PATH to index",
                fix=f"pass the folder to index: omnivec mcp PATH --store {store}",
            )
        return (path or Path(old.root if old else ".")).resolve(), sdir
    if path is not None:
        return path.resolve(), default_store(path.resolve())
    try:
        sdir = find_store(Path.cwd())
    except StoreError:
        return Path.cwd().resolve(), default_store(Path.cwd().resolve())
    old = IndexConfig.load(sdir)
    return Path(old.root if old else sdir.parent).resolve(), sdir


def _scores(hit: Hit) -> dict[str, float | None]:
    """The two numbers an agent can read on their own: `score` only orders one list (a fused
    z-score), while the cosine (-1..1) and BM25 (0 and up) say how close and how literal a hit is;
    None where that side did not find the hit."""
    dense, keyword = hit.dense_score, hit.keyword_score
    return {
        "dense_score": None if dense is None else round(dense, 3),
        "keyword_score": None if keyword is None else round(keyword, 2),
    }


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InputError(f"k = {k!r}", f"a number of results from 1 to {MAX_K}", "pass k=10, for example")
