"""Where a store lives: `PATH/.omnivec` by default, found from any folder below it like `.git`."""

from __future__ import annotations

import os
from pathlib import Path

from omnivec.errors import StoreError

STORE_DIRNAME = ".omnivec"


def find_store(start: Path) -> Path:
    """The nearest `.omnivec` folder at or above `start` (like git finds `.git`)."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / STORE_DIRNAME).is_dir():
            return folder / STORE_DIRNAME
    raise StoreError(
        received=f"no {STORE_DIRNAME} index at or above {here}",
        expected="an index made by `omnivec index PATH`",
        fix="run `omnivec index .` first, or pass --store DIR",
    )


def default_store(root: Path) -> Path:
    return root / STORE_DIRNAME if root.is_dir() else Path(os.getcwd()) / STORE_DIRNAME
