"""Where an index run is, for progress bars and logs: `IndexProgress` snapshots sent to a callback.

The run walks the folder first (names and sizes only, cheap), so the totals are known before the
first file is read: files to look at, and bytes of the files that changed and must be embedded.
A progressive run (a store that holds records before their vectors) then reports when every file
is keyword-searchable (`searchable_after`) and goes on to phase "embedding", counted in chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

Phase = Literal["loading models", "scanning", "indexing", "removing", "embedding", "done"]


@dataclass(frozen=True)
class IndexProgress:
    """One snapshot of a run. `bytes_*` count only files that changed (unchanged ones cost a stat)."""

    phase: Phase
    files_total: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    chunks_done: int = 0
    elapsed: float = 0.0
    path: str = ""
    searchable_after: float | None = None  # seconds until every file was keyword-searchable
    embed_total: int = 0  # chunks to embed in phase "embedding"
    embed_done: int = 0

    @property
    def chunks_per_second(self) -> float:
        if self.phase == "embedding":
            took = self.elapsed - (self.searchable_after or 0.0)
            return self.embed_done / took if took > 0 else 0.0
        return self.chunks_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the rate so far (bytes written, or chunks embedded); None before a rate."""
        if self.phase == "embedding":
            rate = self.chunks_per_second
            return (self.embed_total - self.embed_done) / rate if rate > 0 else None
        if self.bytes_done <= 0 or self.elapsed <= 0:
            return None
        return (self.bytes_total - self.bytes_done) * self.elapsed / self.bytes_done


ProgressCallback = Callable[[IndexProgress], None]


class ProgressTracker:
    """Keeps the running totals of an update and sends a snapshot on each change."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._start = time.perf_counter()
        self._state = IndexProgress("scanning")

    def phase(self, phase: Phase, files_total: int | None = None, bytes_total: int | None = None) -> None:
        s = self._state
        self._emit(replace(s, phase=phase, files_total=s.files_total if files_total is None else files_total,
                           bytes_total=s.bytes_total if bytes_total is None else bytes_total))  # fmt: skip

    def file_seen(self, path: str) -> None:
        self._emit(replace(self._state, files_done=self._state.files_done + 1, path=path))

    def written(self, nbytes: int, chunks: int) -> None:
        s = self._state
        self._emit(replace(s, bytes_done=s.bytes_done + nbytes, chunks_done=s.chunks_done + chunks))

    def searchable(self) -> float:
        """Every file is keyword-searchable now; returns the seconds since the run started."""
        took = time.perf_counter() - self._start
        self._state = replace(self._state, searchable_after=took)
        return took

    def embedding(self, total: int) -> None:
        self._emit(replace(self._state, phase="embedding", embed_total=total, embed_done=0))

    def embedded(self, chunks: int) -> None:
        self._emit(replace(self._state, embed_done=self._state.embed_done + chunks))

    def _emit(self, state: IndexProgress) -> None:
        self._state = replace(state, elapsed=time.perf_counter() - self._start)
        if self._callback is not None:
            self._callback(self._state)
