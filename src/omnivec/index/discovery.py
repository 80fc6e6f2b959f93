"""Where a store lives: `PATH/.omnivec` by default, found from any folder below it like `.git`."""

from __future__ import annotations

import os
from pathlib import Path

from omnivec.errors import InputError, StoreError

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


def prepare_store_folder(folder: Path) -> None:
    """Create a store folder readable by its owner only, with a `.gitignore` of its own, so an
    index of secrets is neither readable by others nor committed by `git add -A`."""
    if folder.exists() and not folder.is_dir():
        raise InputError(
            received=f"--store {folder}, which is a file",
            expected="a folder for the index (created if missing)",
            fix=f"pass another path, e.g. --store {folder.with_name(folder.name + '.omnivec')}",
        )
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        folder.chmod(0o700)  # mkdir's mode is cut by the umask; this is not
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by omnivec: the index holds copies of the indexed files\n*\n")


def default_store(root: Path) -> Path:
    return root / STORE_DIRNAME if root.is_dir() else Path(os.getcwd()) / STORE_DIRNAME
