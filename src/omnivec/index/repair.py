"""`omnivec repair`: bring a damaged store back without touching the user's files.

>>> report = repair_store(Path("repo/.omnivec"))     # doctest: +SKIP
>>> print(report.summary())                          # doctest: +SKIP

Under the writer lock: the database is checked (`PRAGMA quick_check`). A damaged one is salvaged into a fresh file next to it
(`omnivec.stores.salvage`), which then replaces it in one rename; the damaged file is kept as
`omnivec.sqlite.damaged-<timestamp>` (with its `-wal`, if any) for inspection, and can be
deleted. Either way the dense and keyword index files are deleted and rebuilt from the database. What could not
be kept is re-indexed from the source files by the update that `Index.repair` runs next; the
source files are only ever read.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from omnivec.errors import StoreError
from omnivec.index.settings_repair import damaged_name, recover_config
from omnivec.stores.failures import DamagedStoreError, check_result, from_sqlite, translate
from omnivec.stores.index_files import fsync_path
from omnivec.stores.salvage import Salvage, salvage
from omnivec.stores.sqlite_schema import DB_NAME, WriterLock

if TYPE_CHECKING:
    from omnivec.index.updater import IndexReport

log = logging.getLogger(__name__)


@dataclass
class RepairReport:
    """What `repair_store` found and did; `update` is filled in by `Index.repair`."""

    store: str
    problem: str | None  # None: the database was intact (only derived files were rebuilt)
    damaged_copy: str | None = None
    salvage: Salvage | None = None
    update: IndexReport | None = None
    config_copy: str | None = None  # where a damaged index.json was kept, once rebuilt

    def summary(self) -> list[str]:
        """Lines for a person: what was wrong, what was kept, where the damaged file went."""
        if self.problem is None:
            lines = [f"{self.store}: the database is intact; the dense index files were rebuilt"]
        else:
            s = self.salvage or Salvage()
            of = f" of {s.expected_records}" if s.expected_records is not None else ""
            lines = [
                f"{self.store}: the database was damaged ({self.problem})",
                f"kept {s.kept.get('records', 0)}{of} chunks and {s.kept.get('sources', 0)} file entries;"
                f" {s.reindex} files marked for re-indexing",
                f"the damaged database was kept as {self.damaged_copy} (delete it when you no longer need it)",
            ]
        if self.config_copy is not None:
            lines.append(f"index.json was damaged; rebuilt from the database with the default walk options"
                         f" (the damaged file was kept as {self.config_copy})")  # fmt: skip
        if self.update is not None:
            u = self.update
            lines.append(f"re-indexed {u.indexed} files, {u.unchanged} unchanged, {u.removed} removed")
        return lines


def diagnose(db: Path) -> str | None:
    """What is wrong with the database file, or None when SQLite finds it intact."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        return check_result(conn)  # every page, read-only (the keyword index is derived: rebuilt)
    except sqlite3.DatabaseError as exc:
        if isinstance(from_sqlite(exc, db.parent), DamagedStoreError):
            return str(exc)
        raise
    finally:
        conn.close()


def repair_store(store_dir: Path, root: Path | None = None) -> RepairReport:
    """Check the store at `store_dir`; rebuild a damaged database from what is readable; delete
    the dense files so they are rebuilt; rebuild a damaged index.json from the database (`root`:
    the folder it indexes, when known). Source files are not read here (see `Index.repair`)."""
    db = store_dir / DB_NAME
    if not db.is_file():
        raise StoreError(
            received=f"no omnivec database in {store_dir}",
            expected=f"a store folder holding {DB_NAME}",
            fix="pass the index folder with --store, or run `omnivec index PATH` to create one",
        )
    with translate(store_dir):
        lock = WriterLock(store_dir)
        lock.acquire()  # no writer may run while the database is replaced
        try:
            report = RepairReport(str(store_dir), diagnose(db))
            if report.problem is not None:
                log.warning("%s is damaged (%s); salvaging it", db, report.problem)
                report.salvage, report.damaged_copy = _replace(db)
            # derived from the database: rebuilt from it below
            for path in [*(store_dir / "dense").glob("*.faiss"), *(store_dir / "keyword").glob("*.bm25")]:
                path.unlink()
            (store_dir / "checked").unlink(missing_ok=True)
        finally:
            lock.release()
    _rebuild_dense(store_dir)
    report.config_copy = recover_config(store_dir, root)
    return report


def _replace(db: Path) -> tuple[Salvage, str]:
    """Salvage into a temp file, keep the damaged file (and its WAL) aside, swap atomically."""
    tmp = db.with_name(f"{db.name}.repair-tmp")
    found = salvage(db, tmp)
    fsync_path(tmp)
    kept = damaged_name(db)
    wal, shm = db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")
    _keep(db, kept)
    if wal.exists():
        _keep(wal, kept.with_name(kept.name + "-wal"))
    # the old WAL must go before the new file arrives: SQLite would replay it onto the new one
    wal.unlink(missing_ok=True)
    shm.unlink(missing_ok=True)
    os.replace(tmp, db)
    fsync_path(db.parent)
    return found, str(kept)


def _keep(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # the same bytes under a second name, without a copy
    except OSError:
        shutil.copy2(src, dst)


def _rebuild_dense(store_dir: Path) -> None:
    from omnivec.stores.local import LocalStore

    with LocalStore(store_dir, writer=True, flush_interval=None) as store:
        store.flush()  # no files on disk: every collection's dense and keyword index is rebuilt
