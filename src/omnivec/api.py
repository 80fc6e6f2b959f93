"""`Index`: the one Python entry point for the main job (index, search, status, watch).

>>> idx = Index.create("path/to/repo")          # doctest: +SKIP
>>> idx.update().as_dict()["indexed"]            # doctest: +SKIP
>>> idx.search("parse a config file", k=5)       # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnivec.config import cache_dir, default_model
from omnivec.errors import StoreError
from omnivec.index import last_run, remote
from omnivec.index.config import CONFIG_FILE, IndexConfig
from omnivec.index.discovery import (
    check_root_folder,
    check_store_placement,
    default_store,
    holds_indexed_files,
    prepare_store_folder,
)
from omnivec.index.embedding import Engine, embed_here
from omnivec.index.prepare import mark_secrets_checked, secrets_checked
from omnivec.index.progress import IndexProgress, ProgressCallback
from omnivec.index.updater import PENDING_CHUNKS, Indexer, IndexReport
from omnivec.search.query import Query
from omnivec.search.searcher import Searcher
from omnivec.stores.base import CollectionInfo, PendingVectors
from omnivec.stores.uri import is_local, open_store, store_folder
from omnivec.types import Hit, SearchResults

if TYPE_CHECKING:
    from omnivec.encoders.base import Encoder
    from omnivec.index.documents import Document, DocumentsReport
    from omnivec.index.repair import RepairReport
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
    """A store on disk plus the encoders its collections were built with.

    One `Index` may be shared by the threads of a server: encoders load once, behind a lock;
    searches go through a read-only handle of their own, so they never wait for a write.
    """

    def __init__(
        self,
        store_dir: Path,
        config: IndexConfig,
        store: VectorStore,
        writer: bool,
        location: str | None = None,
    ) -> None:
        self.store_dir = store_dir  # a URI store's local folder holds only its visual assets
        self.location = location or str(store_dir)  # what `open_store` takes: a folder or a URI
        self.config = config
        self.store = store
        self.writer = writer
        self._lock = threading.RLock()
        self._encoders: dict[str, Encoder] = {}
        self._searcher: Searcher | None = None
        self._reader: VectorStore | None = None

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
        follow_links: bool = False,
        include_secrets: bool = False,
        include_generated: bool = False,
        move_root: bool = False,
    ) -> Index:
        """Open for writing, creating the store on first use; models must match an existing store.

        A store built from another folder is refused (updating it would drop that folder's files)
        unless `move_root`, or `root` is that folder moved or copied with its index (it holds
        indexed files, or the store is its `.omnivec`). The models are written down with the store
        only once they have loaded, so a first run with a model that cannot load pins nothing.
        """
        root = Path(root).resolve()
        if store_dir is None or Path(str(store_dir)).resolve() != root:  # a store of pushed documents
            check_root_folder(root)  # indexes no folder: its root is itself (`omnivec serve --writable`)
        wanted = IndexConfig(
            root=str(root),
            text_model=text_model or default_model(),
            image_model=default_image_model() if image_model == "default" else image_model,
            screenshot_model=default_screenshot_model()
            if screenshot_model == "default"
            else screenshot_model,
            max_file_bytes=max_file_bytes,
            render_docs=render_docs,
            follow_links=follow_links,
            include_secrets=include_secrets,
            include_generated=include_generated,
        )
        if store_dir is not None and not is_local(store_dir):
            return cls._create_at_uri(str(store_dir), wanted, move_root)
        # an unknown URI scheme is refused here, before anything is created on disk
        sdir = store_folder(store_dir) if store_dir else default_store(root)
        existing = IndexConfig.load(sdir)
        prepare_store_folder(sdir)
        store = _open_store(sdir, writer=True)
        travelled = sdir.resolve() == default_store(root)
        _check_existing(existing, wanted, str(sdir), store, move_root=move_root or travelled)
        return cls(sdir, wanted, store, writer=True)

    @classmethod
    def _create_at_uri(cls, location: str, wanted: IndexConfig, move_root: bool) -> Index:
        """A store served by a backend (Milvus): its settings live in the store (see index.remote)."""
        store = _open_store(location, writer=True)
        try:
            existing = remote.load_config(store)
        except BaseException:
            store.close()
            raise
        _check_existing(existing, wanted, location, store, move_root=move_root)
        return cls(remote.side_folder(location), wanted, store, writer=True, location=location)

    @classmethod
    def open(cls, store_dir: str | Path, *, writer: bool = False) -> Index:
        """Open an existing store (a folder, `file://` or a backend's URI); read-only unless `writer`."""
        if not is_local(store_dir):
            location = str(store_dir)
            store = _open_store(location, writer=writer)
            config = remote.load_config(store)
            if config is None:
                store.close()
                raise StoreError(received=f"{location}, which holds no omnivec index",
                                 expected="a store made by `omnivec index PATH --store URI`",
                                 fix=f"run `omnivec index PATH --store {location}` first")  # fmt: skip
            return cls(remote.side_folder(location), config, store, writer=writer, location=location)
        sdir = store_folder(store_dir)
        config = IndexConfig.load(sdir)
        if config is None:
            raise StoreError(
                received=f"{sdir}, which holds no omnivec index",
                expected="a folder made by `omnivec index`",
                fix="run `omnivec index PATH --store DIR` first",
            )
        return cls(sdir, config, _open_store(sdir, writer=writer), writer=writer)

    @classmethod
    def repair(cls, store_dir: str | Path, progress: ProgressCallback | None = None) -> RepairReport:
        """Make a damaged store whole: keep what is readable, rebuild the derived indexes, then
        re-index from the source files whatever was lost (the files are only read).

        >>> print("\\n".join(Index.repair("repo/.omnivec").summary()))   # doctest: +SKIP
        """
        from omnivec.index.repair import repair_store

        sdir = store_folder(store_dir)
        if not (sdir / CONFIG_FILE).is_file():  # a damaged one is rebuilt by repair_store
            cls.open(sdir)  # raises the "holds no omnivec index" error
        report = repair_store(sdir)
        with cls.open(sdir, writer=True) as idx:
            report.update = idx.update(progress=progress)
        return report

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            self.store.close()

    # --- work --------------------------------------------------------------------------
    def encoder(self, collection: str) -> Encoder:
        """The collection's encoder, loaded on first use (once, even with many threads asking)."""
        with self._lock:
            if collection not in self._encoders:
                self._encoders[collection] = self._load_encoder(collection)
            return self._encoders[collection]

    def _load_encoder(self, collection: str) -> Encoder:
        from omnivec.encoders.registry import get_spec, load_encoder

        name = self.config.models()[collection]
        kw: dict[str, Any] = {}
        wanted = get_spec(name).options.get("text_encoder") if not Path(name).is_dir() else None
        # composite models (ConSE, OCR) share the text model another collection already loaded
        # (loaded first when a collection of its own holds it: so it runs on that one's backend)
        if wanted:
            owner = next(
                (c for c, m in self.config.models().items() if c != collection and m == wanted), None
            )
            loaded = (self.encoder(owner) if owner is not None
                      else next((e for e in self._encoders.values() if e.spec.name == wanted), None))  # fmt: skip
            if loaded is not None:
                kw["text_encoder"] = loaded
        # a collection is queried on the runtime it was built with: onnx, onnx-int8, or torch
        # (recorded as no backend), whatever OMNIVEC_BACKEND says now; a reader may query a torch
        # collection on a cached fp32 ONNX export shown equal to torch (`backend_choice`)
        stored = next((c for c in self.store.collections() if c.name == collection), None)
        if stored is not None:
            kw["backend"] = dict(stored.recipe.get("options") or {}).get("backend") or "torch"
            kw["torch_store_query"] = not self.writer
        return load_encoder(name, **kw)

    def encoders(self) -> dict[str, Encoder]:
        """Every collection's encoder; a writer then records its settings with the store."""
        loaded = {c: self.encoder(c) for c in self.config.models()}
        if self.writer:
            if not self.local:
                if remote.load_config(self.store) != self.config:
                    remote.save_config(self.store, self.config)
            elif IndexConfig.load(self.store_dir) != self.config:
                self.config.save(self.store_dir)
        return loaded

    def update(
        self,
        progress: ProgressCallback | None = None,
        use_cache: bool = True,
        engine: Engine | None = None,
        embed: bool = True,
    ) -> IndexReport:
        """Bring the store up to date with the folder; the report's `seconds` include model loading.

        `progress` gets `IndexProgress` snapshots (phase, files and bytes done of the totals, chunks).
        `engine` embeds elsewhere (e.g. `omnivec.index.ray_engine.RayEngine`); None: this process.
        Every file is keyword-searchable before embedding starts (stores with `PendingVectors`);
        `embed=False` stops there, and the next update embeds what is pending.
        """
        from omnivec.encoders.cache import EmbeddingCache

        if self.local:  # before any model loads: such a store would walk (and index) itself
            check_store_placement(Path(self.config.root), self.store_dir)
        if progress is not None:
            progress(IndexProgress("loading models"))
        started = time.perf_counter()
        encoders = self.encoders()
        loaded = time.perf_counter() - started
        cache = EmbeddingCache(cache_dir() / "embeddings.sqlite") if use_cache else None
        # a store indexed before the content check for keys: read every text file once more
        recheck = self.local and not self.config.include_secrets and not secrets_checked(self.store_dir)
        indexer = Indexer(
            self.store,
            self.config,
            encoders,
            cache=cache,
            assets=self.store_dir / "assets",
            ignore=self.walk_ignores(),
            embedder=engine.embed if engine else embed_here,
            pending_chunks=engine.pending_chunks if engine else PENDING_CHUNKS,
            recheck_secrets=recheck,
        )
        report = indexer.update(Path(self.config.root), progress=progress, embed=embed)
        if recheck:
            mark_secrets_checked(self.store_dir)
        report.seconds = {"load": loaded, **report.seconds}
        if report.searchable_after is not None:  # from the start of the update, models loaded
            report.searchable_after += loaded
        last_run.save(self.store, self.store_dir, self.local, report)  # what `status` reports later
        log.info("indexed %s", report.as_dict())
        return report

    @property
    def local(self) -> bool:
        """Whether the whole store is the local folder `store_dir` (not a backend's URI)."""
        return self.location == str(self.store_dir)

    def walk_ignores(self) -> tuple[str, ...]:
        """Patterns (relative to the root) the indexer leaves out besides .gitignore and built-ins."""
        root = Path(self.config.root)
        store = self.store_dir.resolve()
        # a store kept inside the tree must not index itself
        return (store.relative_to(root).as_posix(),) if store.is_relative_to(root) else ()

    def relative_path(self, path: str | Path) -> str:
        """`path` as the store names it: relative to the root, posix style (absolute paths accepted)."""
        p = Path(path)
        root = Path(self.config.root)
        if p.is_absolute():
            resolved = p.resolve()
            if resolved.is_relative_to(root):
                return resolved.relative_to(root).as_posix()
            return p.as_posix()  # outside the root: reported as not indexed
        return p.as_posix()

    def find_related(self, path: str | Path, line: int, k: int = 5, *, same_file: bool = False) -> list[Hit]:
        """Chunks like the one at `path:line` (a file path relative to the root, or absolute).

        Uses the chunk's stored vector, so no model loads; see `omnivec.search.related`.
        """
        from omnivec.search.related import find_related

        return find_related(self._search_store(), self.relative_path(path), line, k, same_file=same_file)

    def apply_documents(self, upsert: Sequence[Document] = (), delete: Sequence[str] = ()) -> DocumentsReport:
        """Add, replace or delete pushed documents by id (sources `doc:<id>`; see `index.documents`).

        Needs a writer (`Index.create`, or `Index.open(..., writer=True)`); each document is written
        in one transaction, so a crash leaves it at its old or its new version.
        """
        from omnivec.index.documents import apply_documents

        if not self.writer:
            raise StoreError(
                received=f"a document update for {self.store_dir}, which is open read-only",
                expected="an index opened for writing",
                fix="open it with Index.open(store, writer=True) (omnivec serve --writable)",
            )
        return apply_documents(self.store, self.encoder("text"), upsert, delete)

    def searcher(self) -> Searcher:
        """The searcher over every collection that holds records (cached while that set holds)."""
        store = self._search_store()
        names = tuple(c.name for c in store.collections() if c.count > 0 and c.name in self.config.models())
        with self._lock:
            if self._searcher is None or self._searcher.collections != names:
                # encoders load on first use: a keyword search loads no model at all
                self._searcher = Searcher(store, {c: partial(self.encoder, c) for c in names})
            return self._searcher

    def search(self, query: Query | str | None = None, **kw: Any) -> SearchResults:
        """Search every collection: `search("text", k=5, type="code")` or `search(Query(...))`.

        The query is checked before any model loads; hits are complete (screenshot hits carry
        `regions`, the boxes of the query's words on the page). The results are a list of hits
        that also says which keyword engine answered (`SearchResults.keyword_engine`, e.g.
        `omnivec-bm25`; None in dense mode).
        """
        q = query if isinstance(query, Query) else Query(text=query, **kw)
        return self.searcher().search(q)

    def _search_store(self) -> VectorStore:
        """A writer's searches use a read-only handle, so they never queue behind its writes."""
        if not self.writer:
            return self.store
        with self._lock:
            if self._reader is None:
                self._reader = open_store(self.location, writer=False, flush_interval=None)
            return self._reader

    def status(self) -> dict[str, Any]:
        """Files, collections (chunks, how many still wait for a vector), models, sizes, and the
        last update's summary; see `omnivec.index.status.index_status` for each field."""
        from omnivec.index.status import index_status

        return index_status(self)

    def embedded_share(
        self, colls: Sequence[CollectionInfo] | None = None, pending: Mapping[str, int] | None = None
    ) -> float:
        """The share of chunks that have their vector, 0..1 (1.0 for an empty or fully embedded store)."""
        colls = self.store.collections() if colls is None else colls
        pending = self.pending_counts() if pending is None else pending
        total = sum(c.count for c in colls)
        waiting = sum(min(pending.get(c.name, 0), c.count) for c in colls)
        return round((total - waiting) / total, 4) if total else 1.0

    def pending_counts(self) -> dict[str, int]:
        """Chunks per collection still waiting for a vector (none for a one-phase store)."""
        return self.store.pending_counts() if isinstance(self.store, PendingVectors) else {}


def _open_store(location: str | Path, writer: bool) -> VectorStore:
    # the indexer flushes on its own schedule; the store's timer would repeat that work
    return open_store(location, writer=writer, flush_interval=None)


def _check_existing(
    existing: IndexConfig | None, wanted: IndexConfig, where: str, store: VectorStore, *, move_root: bool
) -> None:
    """Refuse (closing `store`) a store of another folder or other models. The root first: a
    store of another folder is the wrong store, whatever its models. A root that holds files the
    index holds is the same tree moved or copied with its store: nothing would be dropped."""
    if existing is None:
        return
    try:
        moved = move_root or holds_indexed_files(Path(wanted.root), store.sources())
        existing.check_same_root(wanted, where, move_root=moved)
        existing.check_same_models(wanted)
    except BaseException:
        store.close()
        raise
