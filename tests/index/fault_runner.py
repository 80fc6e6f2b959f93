"""The `omnivec` command with one deterministic `kill -9` at a named point, for the crash test.

`OMNIVEC_FAULT=POINT:N python -m tests.index.fault_runner index ...` runs the CLI and SIGKILLs
its own process the Nth time it reaches POINT (N defaults to 1):

  store-open    right after the writer store is created: schema committed, no index.json yet
  after-commit  right after a file's SQLite transaction commits, before its FAISS update is saved
  before-flush  right before the store persists its FAISS files
  mid-save      halfway through writing a FAISS file: a torn temporary file is left behind
  before-embed  when the embedding phase asks for its first pending records: every file is
                keyword-searchable, nothing of this run is embedded
  after-vectors right after a batch of vectors (`set_vectors`) commits, mid-embedding

`OMNIVEC_COUNT_EMBEDS=FILE` appends the number of documents of each encoder call to FILE, so
a test can check that a resumed run embeds exactly what was missing.

A self-inflicted SIGKILL is the real thing (no `finally`, no atexit, no buffered writes); unlike
a kill from outside after a delay, it lands at the same point on a fast or a loaded machine.
The points are wrapped from here around the store's methods, so omnivec itself carries no hook.
Without OMNIVEC_FAULT this is the plain CLI. If a point is never reached the process exits
normally, which the test reports as a fault that did not fire.
"""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

FAULT_ENV = "OMNIVEC_FAULT"
COUNT_ENV = "OMNIVEC_COUNT_EMBEDS"
POINTS = ("store-open", "after-commit", "before-flush", "mid-save", "before-embed", "after-vectors")


def _die() -> NoReturn:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("still alive after SIGKILL")


def install(spec: str) -> None:
    """Arm the fault `POINT[:N]`."""
    from omnivec.stores import dense, local

    point, _, nth = spec.partition(":")
    if point not in POINTS:
        raise SystemExit(f"{FAULT_ENV}={spec!r}: the point must be one of {', '.join(POINTS)}")
    target, hits = int(nth or 1), 0

    def reached() -> bool:
        nonlocal hits
        hits += 1
        return hits == target

    def wrap(owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        original = getattr(owner, name)  # AttributeError if the store was reshaped: fail loudly
        setattr(owner, name, functools.wraps(original)(make(original)))

    store = local.LocalStore
    if point == "store-open":

        def opened(init: Callable[..., None]) -> Callable[..., None]:
            def f(self: local.LocalStore, *a: Any, **kw: Any) -> None:
                init(self, *a, **kw)
                if self.writer and reached():
                    _die()

            return f

        wrap(store, "__init__", opened)
    elif point == "after-commit":

        def committed(replace: Callable[..., None]) -> Callable[..., None]:
            def f(self: local.LocalStore, *a: Any, **kw: Any) -> None:
                replace(self, *a, **kw)
                if reached():
                    _die()

            return f

        wrap(store, "replace_source_all", committed)
    elif point == "before-embed":

        def asking(pending: Callable[..., Any]) -> Callable[..., Any]:
            def f(self: local.LocalStore, *a: Any, **kw: Any) -> Any:
                if reached():
                    _die()
                return pending(self, *a, **kw)

            return f

        wrap(store, "pending", asking)
    elif point == "after-vectors":

        def filled(set_vectors: Callable[..., int]) -> Callable[..., int]:
            def f(self: local.LocalStore, *a: Any, **kw: Any) -> int:
                done = set_vectors(self, *a, **kw)
                if reached():
                    _die()
                return done

            return f

        wrap(store, "set_vectors", filled)
    elif point == "before-flush":

        def flushing(flush: Callable[..., None]) -> Callable[..., None]:
            def f(self: local.LocalStore) -> None:
                if self.writer and reached():
                    _die()
                flush(self)

            return f

        wrap(store, "flush", flushing)
    else:  # mid-save

        def saving(save: Callable[..., None]) -> Callable[..., None]:
            def f(path: Path, *a: Any, **kw: Any) -> None:
                if not reached():
                    save(path, *a, **kw)
                    return
                torn = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # where the save writes first
                save(torn, *a, **kw)
                os.truncate(torn, torn.stat().st_size // 2)  # cut where the kill lands
                _die()

            return f

        wrap(dense, "save_index", saving)


def count_embeds(path: str) -> None:
    """Append each document-embedding call's size to `path` (one line per call, flushed at once)."""
    from omnivec.encoders.base import Encoder

    original = Encoder.embed

    def counting(self: Encoder, inputs: Any, role: str = "document", *a: Any, **kw: Any) -> Any:
        items = list(inputs)
        if role == "document":
            with open(path, "a") as f:
                f.write(f"{len(items)}\n")
        return original(self, items, role, *a, **kw)  # type: ignore[arg-type]

    Encoder.embed = functools.wraps(original)(counting)  # type: ignore[method-assign]


def main() -> None:
    spec = os.environ.get(FAULT_ENV)
    if spec:
        install(spec)
    if os.environ.get(COUNT_ENV):
        count_embeds(os.environ[COUNT_ENV])
    from omnivec.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
