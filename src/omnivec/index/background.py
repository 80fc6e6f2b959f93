"""Keep an index current from a background thread: the watch path, through an `UpdateTracker`.

>>> watcher = BackgroundWatcher(idx, tracker).start()     # doctest: +SKIP
>>> watcher.stop()                                       # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, cast

from omnivec.errors import OmnivecError
from omnivec.index.watch import watch_and_update

if TYPE_CHECKING:
    from omnivec.api import Index
    from omnivec.index.freshness import UpdateTracker
    from omnivec.index.progress import ProgressCallback
    from omnivec.index.updater import IndexReport

log = logging.getLogger(__name__)


class _Tracked:
    """The index as the watch loop sees it: every update goes through the tracker."""

    def __init__(self, idx: Index, tracker: UpdateTracker) -> None:
        self._idx, self._tracker = idx, tracker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._idx, name)

    def update(self, progress: ProgressCallback | None = None, **_: Any) -> IndexReport:
        return self._tracker.run(self._idx, progress)


class BackgroundWatcher:
    """A daemon thread running `watch_and_update` until `stop()`.

    The tracker says `watching` once the first (initial) update is done and the loop is about
    to watch; a watch loop that fails records its error there and stops watching.
    """

    def __init__(self, idx: Index, tracker: UpdateTracker, debounce_ms: int = 300) -> None:
        self.idx, self.tracker, self.debounce_ms = idx, tracker, debounce_ms
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="omnivec-watch", daemon=True)

    def start(self) -> BackgroundWatcher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the loop to stop; True when it did within `timeout` (an update cannot be cut short)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.tracker.set_watching(False, self.tracker.state().watch_error)
        return not self._thread.is_alive()

    def _run(self) -> None:
        tracked = cast("Index", _Tracked(self.idx, self.tracker))
        try:
            for report in watch_and_update(tracked, debounce_ms=self.debounce_ms, stop=self._stop):
                log.info("watch: %s", {k: v for k, v in report.as_dict().items() if k != "skips"})
                if not self._stop.is_set():
                    self.tracker.set_watching(True)
        except OmnivecError as exc:
            log.warning("watching stopped: %s", exc)
            self.tracker.set_watching(False, str(exc))
        except Exception as exc:  # the server must go on answering; the staleness report says why
            log.exception("watching stopped")
            self.tracker.set_watching(False, f"{type(exc).__name__}: {exc}")
