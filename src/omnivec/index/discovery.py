"""Where a store lives: `PATH/.omnivec` by default, found from any folder below it like `.git`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from omnivec.config import private_folder
from omnivec.errors import InputError, StoreError

if TYPE_CHECKING:
    from omnivec.stores.base import SourceState

STORE_DIRNAME = ".omnivec"
SAMPLE = 50  # indexed paths looked for under a root: one found shows it is the same tree


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
    private_folder(folder)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by omnivec: the index holds copies of the indexed files\n*\n")


def default_store(root: Path) -> Path:
    return root / STORE_DIRNAME if root.is_dir() else Path(os.getcwd()) / STORE_DIRNAME


def check_root_folder(path: Path, purpose: str = "a repository or folder to index") -> Path:
    """`path` resolved, or an `InputError` saying whether it is missing, a file or something else.
    Commands call this before anything is created, so a typo leaves no store behind."""
    if path.is_dir():
        return path.resolve()
    if not path.exists():
        what, fix = "which does not exist", "check the path (a typo?) or create the folder first"
    elif path.is_file():
        what, fix = "a file, not a folder", f"pass the folder that holds it, e.g. {path.resolve().parent}"
    else:  # a FIFO, a device, a broken link
        what, fix = "which is not a folder", "pass a folder"
    raise InputError(received=f"{path}, {what}", expected=purpose, fix=fix)


def check_store_placement(root: Path, store_dir: Path) -> None:
    """Refuse a store folder that is the indexed folder or holds it: the store's files would land
    among the user's own (and be walked as sources). Inside the root (`ROOT/.omnivec`) is fine."""
    root, sdir = root.resolve(), store_dir.resolve()
    if root != sdir and not root.is_relative_to(sdir):
        return
    where = "the folder being indexed" if root == sdir else f"a folder that holds the indexed folder {root}"
    raise InputError(
        received=f"--store {store_dir}, which is {where}",
        expected="a store folder of its own, inside the indexed folder or beside it",
        fix=f"leave out --store to use {root / STORE_DIRNAME} (the default), or pass a folder beside it,"
        f" e.g. --store {root.with_name(root.name + STORE_DIRNAME)}",
    )


def indexed_files(sources: Mapping[str, SourceState]) -> list[str]:
    """The paths of indexed files (pushed documents, `doc:<id>`, are no files of the root)."""
    from omnivec.index.documents import is_document_source

    return [p for p, s in sources.items() if s.status == "indexed" and not is_document_source(p)]


def holds_indexed_files(root: Path, sources: Mapping[str, SourceState]) -> bool:
    """Whether `root` holds any of (a sample of) the files an index holds: then it is the folder
    the index was built from, or a move or copy of it, and indexing it there drops nothing."""
    return any((root / p).exists() for p in islice(indexed_files(sources), SAMPLE))
