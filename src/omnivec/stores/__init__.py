"""Vector stores: the `VectorStore` protocol (base.py) and its backends (local.py: FAISS + SQLite).

Importing this package is cheap: FAISS is imported on first use of a dense index.
"""

from __future__ import annotations

from omnivec.stores.base import (
    INDEXED,
    NO_VECTOR,
    CollectionInfo,
    Filter,
    PendingVectors,
    Record,
    RowLists,
    RowSearch,
    SourceState,
    VectorStore,
    check_query_any,
)
from omnivec.stores.local import LocalStore

__all__ = [
    "INDEXED", "NO_VECTOR", "CollectionInfo", "Filter", "LocalStore", "PendingVectors", "Record",
    "RowLists", "RowSearch", "SourceState", "VectorStore", "check_query_any",
]  # fmt: skip
