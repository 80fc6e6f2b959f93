"""`Index`: the one Python entry point for the main job (index, search, status, watch).

>>> idx = Index.create("path/to/repo")          # doctest: +SKIP
>>> idx.update().as_dict()["indexed"]            # doctest: +SKIP
>>> idx.search("parse a config file", k=5)       # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnivec.config import cache_dir, default_model
from omnivec.errors import StoreError
from omnivec.index.config import IndexConfig
from omnivec.index.location import default_store
from omnivec.index.updater import Indexer, IndexReport
from omnivec.search.searcher import Query, Searcher
from omnivec.types import Hit

if TYPE_CHECKING:
    from omnivec.encoders.base import Encoder
    from omnivec.stores.base import VectorStore

log = logging.getLogger(__name__)


def default_image_model() -> str | None:
    return _registered("omnivec/conse-efficientnet-lite0-minilm")


def default_screenshot_model() -> str | None:
    return _registered("omnivec/tesseract-minilm")


def _registered(name: str) -> str | None:
    from omnivec.encoders.registry import list_specs

    return name if any(s.name == name for s in list_specs()) else None


class Index:
    """A store on disk plus the encoders its collections were built with."""

    def __init__(self, store_dir: Path, config: IndexConfig, store: VectorStore, writer: bool) -> None:
        self.store_dir = store_dir
        self.config = config
        self.store = store
        self.writer = writer
        self._encoders: dict[str, Encoder] = {}

    # --- opening -----------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: str | Path,
        store_dir: str | Path | None = None,
        *,
        text_model: str | None = None,
        image_model: str | None = "default",
        screenshot_model: str | None = "default",
        max_file_bytes: int = 2_000_000,
        render_docs: bool = False,
    ) -> Index:
        """Open for writing, creating the store on first use; models must match an existing store."""
        root = Path(root).resolve()
        sdir = Path(store_dir) if store_dir else default_store(root)
        wanted = IndexConfig(
            root=str(root),
            text_model=text_model or default_model(),
            image_model=default_image_model() if image_model == "default" else image_model,
            screenshot_model=default_screenshot_model()
            if screenshot_model == "default"
            else screenshot_model,
            max_file_bytes=max_file_bytes,
            render_docs=render_docs,
        )
        existing = IndexConfig.load(sdir)
        if existing is not None:
            existing.check_same_models(wanted)
            if Path(existing.root) != root:
                log.warning("index at %s was built from %s; now indexing %s", sdir, existing.root, root)
        store = _open_store(sdir, writer=True)
        wanted.save(sdir)
        return cls(sdir, wanted, store, writer=True)

    @classmethod
    def open(cls, store_dir: str | Path, *, writer: bool = False) -> Index:
        sdir = Path(store_dir)
        config = IndexConfig.load(sdir)
        if config is None:
            raise StoreError(
                received=f"{sdir}, which holds no omnivec index",
                expected="a folder made by `omnivec index`",
                fix="run `omnivec index PATH --store DIR` first",
            )
        return cls(sdir, config, _open_store(sdir, writer=writer), writer=writer)

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    # --- work --------------------------------------------------------------------------
    def encoder(self, collection: str) -> Encoder:
        if collection not in self._encoders:
            from omnivec.encoders.registry import get_spec, load_encoder

            name = self.config.models()[collection]
            kw: dict[str, Any] = {}
            wanted = get_spec(name).options.get("text_encoder") if not Path(name).is_dir() else None
            # composite models (ConSE, OCR) share the text model another collection already loaded
            shared = [e for e in self._encoders.values() if wanted and e.spec.name == wanted]
            if shared:
                kw["text_encoder"] = shared[0]
            self._encoders[collection] = load_encoder(name, **kw)
        return self._encoders[collection]

    def encoders(self) -> dict[str, Encoder]:
        return {c: self.encoder(c) for c in self.config.models()}

    def update(self, progress: Callable[[str], None] | None = None, use_cache: bool = True) -> IndexReport:
        from omnivec.encoders.cache import EmbeddingCache

        cache = EmbeddingCache(cache_dir() / "embeddings.sqlite") if use_cache else None
        root = Path(self.config.root)
        store = self.store_dir.resolve()
        # a store kept inside the tree must not index itself
        ignore = (store.relative_to(root).as_posix(),) if store.is_relative_to(root) else ()
        indexer = Indexer(
            self.store,
            self.config,
            self.encoders(),
            cache=cache,
            assets=self.store_dir / "assets",
            ignore=ignore,
        )
        report = indexer.update(root, progress=progress)
        log.info("indexed %s", report.as_dict())
        return report

    def searcher(self, collections: list[str] | None = None) -> Searcher:
        names = collections or [c for c in self.config.models() if self._has_records(c)]
        return Searcher(self.store, {c: self.encoder(c) for c in names})

    def search(self, text: str | None = None, **kw: Any) -> list[Hit]:
        """Search every collection; screenshot hits carry `regions`: boxes of the query's words."""
        q = Query(text=text, **kw)
        hits = self.searcher().search(q)
        if not text:
            return hits
        return [_with_regions(h, text) if h.kind == "screenshot" else h for h in hits]

    def status(self) -> dict[str, Any]:
        sources = self.store.sources()
        colls = self.store.collections()
        return {
            "store": str(self.store_dir),
            "root": self.config.root,
            "files": sum(1 for s in sources.values() if s.status == "indexed"),
            "skipped_files": sum(1 for s in sources.values() if s.status != "indexed"),
            "collections": [
                {
                    "name": c.name,
                    "model": c.model,
                    "fingerprint": c.fingerprint,
                    "dim": c.dim,
                    "chunks": c.count,
                    "recipe": dict(c.recipe),
                    "updated": time.ctime(c.updated),
                }
                for c in colls
            ],  # fmt: skip
            "stats": self.store.stats(),
        }

    def _has_records(self, collection: str) -> bool:
        return any(c.name == collection and c.count > 0 for c in self.store.collections())


def _with_regions(hit: Hit, text: str) -> Hit:
    from dataclasses import replace

    from omnivec.ingest.visual import regions

    return replace(hit, metadata={**hit.metadata, "regions": regions(dict(hit.metadata), text)})


def _open_store(store_dir: Path, writer: bool) -> VectorStore:
    from omnivec.stores.local import LocalStore

    # the indexer flushes on its own schedule; the store's timer would repeat that work
    return LocalStore(store_dir, writer=writer, flush_interval=None)
