"""The `VectorStore` protocol every backend implements, and the value types it speaks.

Semantics shared by all backends (the suite in tests/stores/test_suite.py checks them):

- A *collection* holds vectors of one model recipe (one dim, one fingerprint).
- A *source* is one input file. Its `SourceState` is store-wide (one row per source), while its
  records live per collection: a PDF may have page text in a text collection and page
  screenshots in an image collection. `replace_source(collection, ...)` replaces the source's
  records in that collection only; `replace_source_all(...)` replaces them in every collection
  in one transaction, which is what an indexer wants when a file changed, because a crash
  between two per-collection calls would leave the source marked up to date with stale records
  in the second collection.
- `SourceState.chunks` read back from a store is the number of records the source holds across
  all collections, counted by the store; the value passed in is not trusted.
- Record ids are unique store-wide (`get` takes bare ids). Reusing an id held by another
  source or collection is an `InputError`; prefix ids with the collection when the same chunk
  goes into several collections.
- Optional capability `PendingVectors` (progressive indexing): a record may be written with an
  empty vector (`NO_VECTOR`), so it is keyword-searchable at once; dense search skips it until
  `set_vectors` fills it in. A store without the capability is written one phase, vectors and
  all (the indexer checks with `isinstance(store, PendingVectors)`).
- Scores: dense = inner product (cosine for normalised vectors); keyword = BM25 (higher is
  better). Both are comparable only within one result list.
- `keyword_engine(collection)` names what answers a collection's keyword searches, in one
  vocabulary across backends: `omnivec-bm25` (the local store's BM25 index), `omnivec-scan`
  (omnivec's exact BM25 over rows read back from Milvus), `milvus-bm25` (Milvus full-text
  search). Search results and `stats()` use the same names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from omnivec.errors import InputError, RecipeMismatchError

INDEXED = "indexed"


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    model: str
    fingerprint: str
    dim: int
    recipe: Mapping[str, Any]
    count: int
    created: float
    updated: float


NO_VECTOR = np.empty(0, dtype=np.float32)  # the vector of a record written before it is embedded


@dataclass(frozen=True)
class Record:
    """One chunk. `fields` round-trips through JSON (tuples come back as lists).

    `collection` is filled in by `VectorStore.get`; it is ignored when writing. `vector` is
    `NO_VECTOR` (empty) for a record pending its embedding (stores with `PendingVectors` only).
    """

    id: str
    source: str
    vector: np.ndarray
    text: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    collection: str = ""


@dataclass(frozen=True)
class SourceState:
    source: str
    content_hash: str
    size: int
    mtime_ns: int
    chunks: int
    status: str  # "indexed" | "skipped: reason"


@dataclass(frozen=True)
class Filter:
    """Restricts a search. Empty tuples mean "any"; `path_glob` uses SQLite GLOB semantics
    (case-sensitive, `*` also matches `/`) against `fields["path"]` (or the source path)."""

    kinds: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    path_glob: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.kinds or self.languages or self.path_glob)


@runtime_checkable
class VectorStore(Protocol):
    """Where chunks, their vectors and keyword index live. See the module docstring."""

    def ensure_collection(
        self, name: str, *, model: str, fingerprint: str, dim: int, recipe: Mapping[str, Any]
    ) -> CollectionInfo: ...

    def collections(self) -> list[CollectionInfo]: ...

    def check_query(self, collection: str, *, fingerprint: str, recipe: Mapping[str, Any]) -> None: ...

    def replace_source(self, collection: str, state: SourceState, records: Sequence[Record]) -> None: ...

    def replace_source_all(
        self, state: SourceState, by_collection: Mapping[str, Sequence[Record]]
    ) -> None: ...

    def touch_source(self, state: SourceState) -> None: ...

    def remove_source(self, source: str) -> None: ...

    def sources(self) -> dict[str, SourceState]: ...

    def dense_search(
        self, collection: str, vector: np.ndarray, k: int, flt: Filter | None = None
    ) -> list[tuple[str, float]]: ...

    def keyword_search(
        self, collection: str, query: str, k: int, flt: Filter | None = None
    ) -> list[tuple[str, float]]: ...

    def keyword_engine(self, collection: str) -> str:
        """The name of the engine behind `keyword_search` on this collection (module docstring)."""
        ...  # fmt: skip

    def get(self, ids: Sequence[str], *, with_vectors: bool = False) -> dict[str, Record]: ...

    def flush(self) -> None: ...

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


@runtime_checkable
class PendingVectors(Protocol):
    """Optional store capability: records written before their vectors, filled in later.

    `replace_source*` accept records whose vector is `NO_VECTOR`: they are keyword-searchable at
    once and invisible to dense search until `set_vectors`. A pending record whose
    `fields["content_hash"]` matches a record of the same source and collection that had a
    vector keeps that vector (unchanged chunks of an edited file are not embedded again).

    >>> store.replace_source_all(state, {"code": [Record(..., vector=NO_VECTOR)]})  # doctest: +SKIP
    >>> todo = store.pending("code", limit=256)                                      # doctest: +SKIP
    >>> store.set_vectors("code", {r.id: vec for r, vec in zip(todo, encode(todo))})  # doctest: +SKIP
    """

    def pending(self, collection: str, limit: int, offset: int = 0) -> list[Record]:
        """Records still without a vector, oldest first; `offset` skips past ones that failed."""
        ...  # fmt: skip

    def set_vectors(self, collection: str, vectors: Mapping[str, np.ndarray]) -> int:
        """Fill in pending records by id, in one transaction; returns how many were pending."""
        ...  # fmt: skip

    def pending_counts(self) -> dict[str, int]:
        """Records without a vector, per collection (collections with none may be left out)."""
        ...  # fmt: skip


@dataclass(frozen=True)
class RowLists:
    """A collection's dense and keyword lists read in one snapshot, each (rows, scores) best
    first: rows as int64, scores as floats (empty arrays for a list not asked for)."""

    dense: tuple[np.ndarray, np.ndarray]
    keyword: tuple[np.ndarray, np.ndarray]


@runtime_checkable
class RowSearch(Protocol):
    """Optional store capability: search by *row*, an integer that names one version of one
    record store-wide and is never reused (a record rewritten gets a new row), so a row seen in
    one snapshot can be looked up in a later one and is either that same record or gone.

    A searcher fuses rows and turns only the hits it shows into ids and fields.
    """

    def search_rows(
        self, collection: str, vector: np.ndarray | None, text: str | None, k: int, flt: Filter | None = None
    ) -> RowLists:
        """`dense_search(vector)` and `keyword_search(text)` as rows, in one snapshot; a None
        argument leaves its list empty. Same scores, same order, same filter semantics."""
        ...  # fmt: skip

    def row_ids(self, rows: Sequence[int]) -> dict[int, str]:
        """Record ids of rows; rows of records deleted since are left out."""
        ...  # fmt: skip

    def hit_rows(self, rows: Sequence[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        """(id, fields) of rows, without text or vector; rows of records deleted since are left out."""
        ...  # fmt: skip


def canonical_recipe(recipe: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe as it is stored: JSON types only, so tuples and lists compare equal."""
    return json.loads(json.dumps(dict(recipe), sort_keys=True, default=str))


def recipe_diff(stored: Mapping[str, Any], given: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Human-readable differences, e.g. ['max_length 512 vs 2048'] (stored value first)."""
    out: list[str] = []
    for key in sorted(set(stored) | set(given)):
        a, b = stored.get(key, "<unset>"), given.get(key, "<unset>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(recipe_diff(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key} {a!r} vs {b!r}")
    return out


def check_recipe(
    info: CollectionInfo, *, fingerprint: str, recipe: Mapping[str, Any], dim: int | None, what: str
) -> None:
    """Raise `RecipeMismatchError` listing what differs between a collection and a caller."""
    diffs = recipe_diff(canonical_recipe(info.recipe), canonical_recipe(recipe))
    if dim is not None and dim != info.dim:
        diffs.insert(0, f"dim {info.dim} vs {dim}")
    if fingerprint != info.fingerprint:
        diffs.insert(0, f"model fingerprint {info.fingerprint} vs {fingerprint}")
    if diffs:
        raise RecipeMismatchError(
            received=f"{what} for collection {info.name!r} (model {info.model}) that differs: "
            + "; ".join(diffs),
            expected="the model and recipe the collection was built with (collection value first)",
            fix=f"use model {info.model} with its stored recipe, or re-index into a new collection",
        )


def check_query_any(
    store: VectorStore, collection: str, identities: Sequence[tuple[str, Mapping[str, Any]]]
) -> None:
    """`check_query` that accepts the first of an encoder's `identities()` the collection holds.

    An encoder lists its own (fingerprint, recipe) first, then those of other backends it was shown
    to match (an fp32 ONNX export matching torch); when none fits, the error is the one for its
    own identity, which says what differs.
    """
    first: RecipeMismatchError | None = None
    for fingerprint, recipe in identities:
        try:
            store.check_query(collection, fingerprint=fingerprint, recipe=recipe)
            return
        except RecipeMismatchError as exc:
            first = first or exc
    if first is not None:
        raise first


def check_one_source(state: SourceState, by_collection: Mapping[str, Sequence[Record]]) -> None:
    """A source is replaced with its own records only: refuse any record of another source."""
    for recs in by_collection.values():
        for rec in recs:
            if rec.source != state.source:
                raise InputError(received=f"record {rec.id!r} of source {rec.source!r}",
                                 expected=f"records of {state.source!r}, the source being replaced",
                                 fix="group records by source before writing")  # fmt: skip
