"""`Index.status`: what `omnivec status` (and the MCP and HTTP servers) say about an index."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from omnivec.index import last_run

if TYPE_CHECKING:
    from omnivec.api import Index


def index_status(idx: Index) -> dict[str, Any]:
    """Files, collections (chunks, how many still wait for a vector), models, sizes.

    `files` counts the files indexed. `skipped_files` counts the files the last update left out
    (binary, too large, key files, unreadable...), the same number its report called `skipped`:
    the ledger holds only indexed files, so it is recorded with each update (`index.last_run`);
    None when no update recorded it. `last_update` is that update's summary, with its first skips.
    `embedded_share` is the share of chunks that have their vector (1.0 when every chunk is
    embedded): below 1, dense and hybrid search see only the embedded part, while keyword
    search sees everything.
    """
    store = idx.store
    sources = store.sources()
    colls = store.collections()
    pending = idx.pending_counts()
    last = last_run.load(store, idx.store_dir, idx.local)
    return {
        "store": idx.location,
        "root": idx.config.root,
        "files": sum(1 for s in sources.values() if s.status == "indexed"),
        "skipped_files": last["skipped"] if last else None,
        "last_update": last,
        "collections": [
            {
                "name": c.name,
                "model": c.model,
                "fingerprint": c.fingerprint,
                "dim": c.dim,
                "chunks": c.count,
                "pending": pending.get(c.name, 0),
                "keyword_engine": store.keyword_engine(c.name),
                "recipe": dict(c.recipe),
                "updated": time.ctime(c.updated),
            }
            for c in colls
        ],  # fmt: skip
        "embedded_share": idx.embedded_share(colls, pending),
        "stats": store.stats(),
    }
