"""What a store says when the disk fails it: damage, a full disk, a read-only folder.

SQLite and the file system report these as `sqlite3.DatabaseError` / `OSError` from whatever
statement or write meets them first. `translate` turns them, on every path of `LocalStore`,
into a `StoreError` that names what happened and the command that fixes it; everything else
passes through unchanged.

Damage is also looked for when a store opens (`quick_check`, which reads every page). Measured
on a 100k-record store (dim 384, 474 MB, 2 busy cores): 1.7 s with the file in the page cache,
17 s cold, against 0.1 ms for the first query of a plain open; 2 ms for a 400-record store.
Paying that on every `index` run would more than double an incremental run over unchanged
files, so a writer that closes cleanly stamps the file's (size, mtime, inode) in `checked`, and
the next open checks only when the file is not exactly what that close left (a crash, another
program, truncation, overwritten pages). Readers check only files up to `QUICK_CHECK_MAX_BYTES`
(~0.1 s) that are not stamped; a reader of a larger store meets damage when a query touches it,
and reports it the same way. Either way `index` cannot report success over a damaged file that
was changed behind its back.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from omnivec.errors import StoreError

QUICK_CHECK_MAX_BYTES = 32 * 2**20

_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_READONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
# SQLite's extended codes for a failed write (a full disk or an exceeded size limit comes back
# as one of these when the OS call fails outright rather than writing short)
_WRITE_IOERRS = {"SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE",
                 "SQLITE_IOERR_SHMSIZE", "SQLITE_IOERR_DIR_FSYNC"}  # fmt: skip


class DamagedStoreError(StoreError):
    """The store's database is damaged: `omnivec repair` rebuilds it from what is readable."""


def repair_hint(root: Path) -> str:
    return (
        f"run `omnivec repair --store {root}` (it keeps what is readable, re-indexes the rest from "
        "your files, and never touches them)"
    )


def damaged(root: Path, detail: str) -> DamagedStoreError:
    return DamagedStoreError(
        received=f"a damaged index database {root / 'omnivec.sqlite'} ({detail})",
        expected="an intact SQLite database",
        fix=repair_hint(root),
    )


def disk_full(root: Path, detail: str) -> StoreError:
    return StoreError(
        received=f"a failed write to the store {root}: the disk is full, or a file-size limit was reached ({detail})",
        expected="room on the disk for the index to grow",
        fix=f"free some space (df -h {root}) and run the command again; what was stored before is intact",
    )


def read_only(root: Path, detail: str) -> StoreError:
    return StoreError(
        received=f"a write to the store folder {root}, which is read-only ({detail})",
        expected="a store folder this user can write to (searching a read-only store works)",
        fix=f"make {root} writable (chmod -R u+w, or remount it read-write), or pass --store DIR",
    )


def from_sqlite(exc: sqlite3.Error, root: Path) -> StoreError | None:
    """The `StoreError` for a SQLite failure that is the disk's or the file's, else None."""
    code = getattr(exc, "sqlite_errorcode", None)
    name = getattr(exc, "sqlite_errorname", "") or ""
    detail = f"{exc} [{name}]" if name else str(exc)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in _DAMAGED or "malformed" in str(exc) or "not a database" in str(exc):
        return damaged(root, detail)
    if primary == sqlite3.SQLITE_FULL or name in _WRITE_IOERRS:
        return disk_full(root, detail)
    if primary == sqlite3.SQLITE_READONLY:
        return read_only(root, detail)
    if primary == sqlite3.SQLITE_CANTOPEN and not os.access(root, os.W_OK):
        return read_only(root, detail)
    if primary == sqlite3.SQLITE_IOERR:
        return StoreError(
            received=f"a disk I/O error on the store {root} ({detail})",
            expected="a disk that reads and writes",
            fix=f"check the disk (dmesg, df -h {root}); if it is fine, {repair_hint(root)}",
        )
    return None


def from_os(exc: OSError, root: Path) -> StoreError | None:
    detail = f"{exc.strerror or exc} on {exc.filename}" if exc.filename else str(exc)
    if exc.errno in _FULL_ERRNOS:
        return disk_full(root, detail)
    if exc.errno in _READONLY_ERRNOS:
        return read_only(root, detail)
    return None


@contextlib.contextmanager
def translate(root: Path) -> Iterator[None]:
    """Raise the disk's and the file's failures inside the block as `StoreError`s."""
    try:
        yield
    except sqlite3.Error as exc:
        mapped = from_sqlite(exc, root)
        if mapped is None:
            raise
        raise mapped from exc
    except OSError as exc:
        mapped = from_os(exc, root)
        if mapped is None:
            raise
        raise mapped from exc


CHECK_STAMP = "checked"


def _identity(db: Path) -> dict[str, int] | None:
    try:
        st = db.stat()
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def stamp_clean(root: Path, db: Path) -> None:
    """After a writer's clean close: remember the file as checked (best effort)."""
    ident = _identity(db)
    wal = db.with_name(db.name + "-wal")
    if ident is None or (wal.exists() and wal.stat().st_size > 0):
        return
    with contextlib.suppress(OSError):
        tmp = root / f".{CHECK_STAMP}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(ident))
        os.replace(tmp, root / CHECK_STAMP)


def needs_check(root: Path, db: Path, *, writer: bool) -> bool:
    """Whether opening should run `quick_check` (see the module docstring)."""
    try:
        stamped = json.loads((root / CHECK_STAMP).read_text())
    except (OSError, ValueError):
        stamped = None
    ident = _identity(db)
    if ident is not None and stamped == ident:
        return False
    return writer or (ident is not None and ident["size"] <= QUICK_CHECK_MAX_BYTES)


def quick_check(conn: sqlite3.Connection, root: Path) -> None:
    """`PRAGMA quick_check`: every page and b-tree readable and well formed (O(pages))."""
    problem = check_result(conn)
    if problem is not None:
        raise damaged(root, f"quick_check: {problem}")


def check_result(conn: sqlite3.Connection) -> str | None:
    """`PRAGMA quick_check` (reads every page, O(pages)) as one short line, or None when ok."""
    rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)")]
    if rows == ["ok"]:
        return None
    text = " ".join(" ".join(rows).replace("*** in database main ***", "").split())
    return text if len(text) <= 200 else text[:197] + "..."
