"""Where an index whose store is not a local folder (`milvus://`, `milvus-lite://`) keeps the rest.

The index settings (`IndexConfig`: root, models, walk options) live in the store itself, next to
the ledger, so a search server on another machine opens the index from its URI alone. Visual
derivatives (thumbnails, rendered pages) are files, written by the indexer into a folder of its
own under the omnivec cache; search servers on other machines get their paths, not their bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from omnivec.config import cache_dir, private_folder
from omnivec.errors import StoreError
from omnivec.index.config import IndexConfig

CONFIG_KEY = "index"


def side_folder(location: str) -> Path:
    """The indexer's local folder for a URI store (assets only), named after the URI."""
    digest = hashlib.blake2b(location.split("?", 1)[0].encode(), digest_size=8).hexdigest()
    scheme = location.split("://", 1)[0]
    private_folder(cache_dir() / "stores")  # thumbnails and page images of private files
    return cache_dir() / "stores" / f"{scheme}-{digest}"


def load_config(store: Any) -> IndexConfig | None:
    if not hasattr(store, "get_meta"):
        raise StoreError(
            received=f"a {type(store).__name__} store, which keeps no index settings",
            expected="a backend with get_meta/set_meta (Milvus) or a local store folder",
            fix="use a folder for --store, or a milvus:// / milvus-lite:// URI",
        )
    data = store.get_meta(CONFIG_KEY)
    if data is None:
        return None
    known = IndexConfig.__dataclass_fields__
    return IndexConfig(**{k: v for k, v in data.items() if k in known})


def save_config(store: Any, config: IndexConfig) -> None:
    store.set_meta(CONFIG_KEY, asdict(config))
