"""Rebuild a damaged `index.json` from what the store's database knows (part of `repair`).

The database names each collection's model, which is what a store must keep (switching one mixes
embedding spaces); the root is the folder the caller names, or for a default `ROOT/.omnivec`
store the folder that holds it. Either way the root must hold files the index holds: a wrong root
would make the next update drop every indexed file. The walk options go back to their (safe)
defaults; `omnivec index` writes the ones it is given. The damaged file is kept beside it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from omnivec.errors import StoreError
from omnivec.index.config import CONFIG_FILE, IndexConfig
from omnivec.index.discovery import STORE_DIRNAME, holds_indexed_files, indexed_files
from omnivec.stores.base import SourceState
from omnivec.stores.sqlite_schema import DB_NAME


def recover_config(store_dir: Path, root: Path | None) -> str | None:
    """Rebuild a damaged index.json; returns where the damaged file was kept, None if it was sound."""
    try:
        IndexConfig.load(store_dir)
        return None
    except StoreError as exc:
        damage = exc
    models, sources = _known(store_dir)
    root = _root_for(store_dir, root, sources, damage)
    kept = _keep_aside(store_dir / CONFIG_FILE)
    if "text" in models:  # else nothing was ever embedded: the next `index` writes a fresh file
        IndexConfig(root=str(root), text_model=models["text"], image_model=models.get("image"),
                    screenshot_model=models.get("screenshot")).save(store_dir)  # fmt: skip
    return kept


def _known(store_dir: Path) -> tuple[dict[str, str], dict[str, SourceState]]:
    """Each collection's model, and the ledger of indexed sources."""
    if not (store_dir / DB_NAME).is_file():
        return {}, {}
    from omnivec.stores.local import LocalStore

    with LocalStore(store_dir, writer=False, flush_interval=None) as store:
        return {c.name: c.model for c in store.collections()}, store.sources()


def _root_for(
    store_dir: Path, root: Path | None, sources: dict[str, SourceState], damage: StoreError
) -> Path:
    """The caller's root, or the folder holding a `.omnivec` store, if it holds indexed files."""
    candidate = root or (store_dir.resolve().parent if store_dir.name == STORE_DIRNAME else None)
    if candidate is None:
        raise StoreError(
            received=f"{damage.received}; a store not named {STORE_DIRNAME} does not tell which folder it indexes",
            expected="the folder this index was built from",
            fix=f"run `omnivec index FOLDER --store {store_dir} --rebuild` with that folder",
        )
    candidate = candidate.resolve()
    files = indexed_files(sources)
    if files and not holds_indexed_files(candidate, sources):
        raise StoreError(
            received=f"{damage.received}; the index holds files such as {files[0]}, none of which"
            f" are under {candidate}",
            expected="the folder this index was built from (rebuilding it for another would drop"
            " every indexed file at the next update)",
            fix=f"run `omnivec index FOLDER --store {store_dir} --rebuild` with the folder that holds"
            f" {files[0]}, or delete {store_dir} and index afresh",
        )
    return candidate


def _keep_aside(path: Path) -> str:
    """Rename the damaged file to `index.json.damaged-<time>`, as a damaged database is kept."""
    kept = damaged_name(path)
    os.replace(path, kept)
    return str(kept)


def damaged_name(path: Path) -> Path:
    """A free name for keeping a damaged `path` aside: `NAME.damaged-<time>`, then `-2`, `-3`...
    (two repairs within a second keep both copies)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.name}.damaged-{stamp}")
    for n in range(2, 1000):
        if not kept.exists():
            break
        kept = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    return kept
