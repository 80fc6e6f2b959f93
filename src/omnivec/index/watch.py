"""Keep an index current: re-run the incremental update whenever files under the root change."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from omnivec.errors import require
from omnivec.index.discovery import STORE_DIRNAME

if TYPE_CHECKING:
    import threading

    from omnivec.api import Index
    from omnivec.index.updater import IndexReport

log = logging.getLogger(__name__)

# watchfiles returns from its wait this often when nothing changed: the first return proves the
# watcher is subscribed (it subscribes when created, before waiting), so `ready` is set by then
READY_TICK_MS = 200


def watch_and_update(
    idx: Index,
    debounce_ms: int = 500,
    stop: threading.Event | None = None,
    ready: threading.Event | None = None,
) -> Iterator[IndexReport]:
    """Yield one report for the initial update, then one per settled batch of changes.

    Each update is the same incremental, crash-safe pass as `omnivec index`, so the guarantees
    hold; unchanged files are recognised by (size, mtime) and cost almost nothing. `ready`, if
    given, is set once the watcher is subscribed (within `READY_TICK_MS` of resuming after the
    initial report): a change made after that is seen.
    """
    watchfiles = require("watchfiles", "index", "watching a folder")
    root = Path(idx.config.root)
    store = idx.store_dir.resolve()
    yield idx.update()

    def relevant(_change: object, path: str) -> bool:
        p = Path(path)
        return store not in p.parents and STORE_DIRNAME not in p.parts

    subscribed = False
    for changes in watchfiles.watch(
        root, watch_filter=relevant, debounce=debounce_ms, stop_event=stop,
        rust_timeout=READY_TICK_MS, yield_on_timeout=True,
    ):  # fmt: skip
        if not subscribed:
            subscribed = True
            if ready is not None:
                ready.set()
            # files edited while the initial update ran were changed before the watcher looked:
            # one more incremental pass (a stat per unchanged file) catches them
            caught_up = idx.update()
            if caught_up.indexed or caught_up.removed:
                yield caught_up
        if not changes:  # a timeout tick: nothing changed
            continue
        log.info("%d changes under %s", len(changes), root)
        yield idx.update()
