"""The `MilvusStore` ledger's values: source states, the pending mark, the one-writer lease.

Milvus has no locks, so one writer per store is a lease row: (host, pid, last write). A second
writer on the same host is refused while that pid lives; one on another host while the lease
was renewed within `LEASE_STALE_S` (a writer renews it as it writes).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from typing import Any

from omnivec.errors import InputError, StoreError
from omnivec.stores.base import SourceState

PENDING = "pending: interrupted write (re-indexed on the next run)"
LEASE_STALE_S = 120.0  # a writer on another host that has not written for this long is gone


def my_lease() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "beat": time.time()}


def check_lease(held: Sequence[dict[str, Any]], display: str) -> None:
    """Raise `StoreError` if another live writer holds the store."""
    me = my_lease()
    for lease in held:
        if lease["host"] == me["host"]:
            alive = lease["pid"] != me["pid"] and pid_alive(lease["pid"])
        else:
            alive = time.time() - lease["beat"] < LEASE_STALE_S
        if alive:
            raise StoreError(
                received=f"a second writer for {display}, held by pid {lease['pid']} on {lease['host']}",
                expected="one indexer per store",
                fix="wait for the other indexer to finish, or open the store read-only",
            )


def state_value(state: SourceState, chunks: int, status: str | None = None) -> dict[str, Any]:
    pending = status == PENDING
    return {"hash": "" if pending else state.content_hash, "size": state.size, "mtime_ns": state.mtime_ns,
            "chunks": chunks, "status": status or state.status}  # fmt: skip


def duplicate_error(rid: str, source: str, owner: str) -> InputError:
    return InputError(
        received=f"record id {rid!r} for source {source!r}, already used by {owner}",
        expected="record ids unique across the whole store",
        fix="derive ids from the source path and chunk position, prefixed by the collection if a "
        "chunk goes into several collections",
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
