"""The `omnivec` command with one deterministic `kill -9` at a named point, for the crash test.

`OMNIVEC_FAULT=POINT:N python -m tests.index.fault_runner index ...` runs the CLI and SIGKILLs
its own process the Nth time it reaches POINT (N defaults to 1):

  store-open    right after the writer store is created: schema committed, no index.json yet
  after-commit  right after a file's SQLite transaction commits, before its FAISS update is saved
  before-flush  right before the store persists its FAISS files
  mid-save      halfway through writing a FAISS file: a torn temporary file is left behind

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
POINTS = ("store-open", "after-commit", "before-flush", "mid-save")


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


def main() -> None:
    spec = os.environ.get(FAULT_ENV)
    if spec:
        install(spec)
    from omnivec.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
