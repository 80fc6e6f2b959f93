"""Dynamic batching: concurrent embedding requests for one model share forward passes.

One `Batcher` per (model, role, instruction): requests queue with an estimated token cost; a
worker thread takes the first waiting request, gathers more for at most `max_wait_s` (never
waiting when the queue already holds work) or until the token budget is full, runs the encoder's
one batching loop (`embed`) over the concatenated items, and hands each request its own slice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnivec.types import Item

log = logging.getLogger(__name__)

IMAGE_COST = 256  # an image's share of a batch, in tokens: a coarse guess, only for gathering


@dataclass(frozen=True)
class Slice:
    """One request's share of a batch: its vectors, truncated positions (its own) and tokens."""

    vectors: np.ndarray
    truncated: list[int]
    tokens: int


@dataclass
class _Request:
    items: Sequence[Item]
    cost: int
    future: Future[Slice]


def estimate_cost(item: Item) -> int:
    """Tokens before tokenising: about 4 bytes of text per token, plus a fixed share per image."""
    text = len((item.text or "").encode("utf-8", "surrogatepass")) // 4 + 2
    return text + (IMAGE_COST if item.image is not None else 0)


class Batcher:
    """A queue and the worker that drains it. `run(items)` returns an `EncodeResult`."""

    def __init__(
        self,
        run: Callable[[list[Item]], Any],
        *,
        max_tokens: int,
        max_wait_s: float,
        max_items: int = 4096,
        on_batch: Callable[[int, int], None] | None = None,
        name: str = "batcher",
    ) -> None:
        self._run = run
        self.max_tokens, self.max_wait_s, self.max_items = max_tokens, max_wait_s, max_items
        self._on_batch = on_batch
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._carry: _Request | None = None
        self._pending = 0  # items queued and not yet running (the queue-depth metric)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._started = False
        self._closed = False

    @property
    def depth(self) -> int:
        return self._pending

    def submit(self, items: Sequence[Item]) -> Future[Slice]:
        """Queue `items` (one request); the future resolves to the request's `Slice`."""
        fut: Future[Slice] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("batcher is closed")
            if not self._started:
                self._thread.start()
                self._started = True
            self._pending += len(items)
        self._queue.put(_Request(items, sum(estimate_cost(it) for it in items), fut))
        return fut

    def close(self) -> None:
        with self._lock:
            self._closed = True
            started = self._started
        if started:
            self._queue.put(None)
            self._thread.join(timeout=10)

    # --- worker -----------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            batch = self._gather()
            if batch is None:
                return
            try:
                self._execute(batch)
            except Exception as exc:  # a bug here must not leave requests waiting forever
                log.exception("batcher %s failed", self._thread.name)
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(exc)

    def _gather(self) -> list[_Request] | None:
        first = self._carry if self._carry is not None else self._queue.get()
        self._carry = None
        if first is None:
            return None
        batch, cost, n = [first], first.cost, len(first.items)
        deadline = time.monotonic() + self.max_wait_s
        while cost < self.max_tokens and n < self.max_items:
            left = deadline - time.monotonic()
            try:
                nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)  # finish this batch, then stop
                break
            if cost + nxt.cost > self.max_tokens or n + len(nxt.items) > self.max_items:
                self._carry = nxt  # first in the next batch: order of arrival is kept
                break
            batch.append(nxt)
            cost, n = cost + nxt.cost, n + len(nxt.items)
        return batch

    def _execute(self, batch: list[_Request]) -> None:
        items = [it for r in batch for it in r.items]
        with self._lock:
            self._pending -= len(items)
        try:
            result = self._run(items)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            log.info("a batch of %d requests failed (%s); running them one by one", len(batch), exc)
            for r in batch:  # one bad request must not fail its neighbours
                self._execute([r])
            return
        if self._on_batch is not None:
            self._on_batch(len(items), len(batch))
        self._split(batch, result)

    @staticmethod
    def _split(batch: list[_Request], result: Any) -> None:
        truncated = set(result.truncated)
        lo = 0
        for r in batch:
            hi = lo + len(r.items)
            costs = result.costs[lo:hi] if result.costs else []
            r.future.set_result(
                Slice(
                    vectors=result.vectors[lo:hi],
                    truncated=[i - lo for i in range(lo, hi) if i in truncated],
                    tokens=int(sum(costs)),
                )
            )
            lo = hi
