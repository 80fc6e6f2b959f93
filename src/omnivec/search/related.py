"""Code like this code: the chunk at a file and line, its stored vector, its nearest neighbours.

No model runs: the chunk's vector is already in the store, so finding related code costs one
dense search.

>>> hits = find_related(store, "pkg/config.py", 42, k=5)    # doctest: +SKIP
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivec.errors import InputError
from omnivec.search.hits import group_key, make_hit
from omnivec.stores.base import Filter, Record

if TYPE_CHECKING:
    from omnivec.stores.base import VectorStore
    from omnivec.types import Hit


def glob_literal(path: str) -> str:
    """A SQLite GLOB pattern that matches exactly `path` (`*`, `?` and `[` made literal)."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in path)


def file_records(store: VectorStore, path: str) -> list[Record]:
    """Every record of one indexed file in every collection, with vectors; [] if not indexed.

    Uses only the `VectorStore` protocol: a filtered dense search never under-fills, so a search
    restricted to the file's path with k = the file's chunk count returns all of its records
    (the query vector only orders them).
    """
    state = store.sources().get(path)
    if state is None or state.chunks == 0:
        return []
    flt = Filter(path_glob=glob_literal(path))
    ids: list[str] = []
    for coll in store.collections():
        if coll.count:
            probe = np.zeros(coll.dim, dtype=np.float32)
            ids.extend(i for i, _ in store.dense_search(coll.name, probe, state.chunks, flt))
    return list(store.get(ids, with_vectors=True).values())


def chunk_at(store: VectorStore, path: str, line: int) -> Record:
    """The indexed chunk of `path` that contains `line` (the narrowest one, if chunks nest).

    Raises `InputError` when the file is not indexed or no chunk covers the line; the message
    lists near paths or the line ranges that are covered.
    """
    if isinstance(line, bool) or not isinstance(line, int) or line < 1:
        raise InputError(f"line {line!r}", "a line number from 1", "pass the 1-based line of the code")
    records = file_records(store, path)
    if not records:
        raise _not_indexed(store, path)
    covering = [r for r in records if _start(r) <= line <= _end(r)]
    if not covering:
        spans = sorted({(_start(r), _end(r)) for r in records if _start(r) > 0})
        raise InputError(
            received=f"line {line} of {path}, which no indexed chunk covers",
            expected="a line inside an indexed chunk; this file's chunks cover lines " + _ranges(spans),
            fix="pick a line inside a function, class or section of the file",
        )
    return min(covering, key=lambda r: (_end(r) - _start(r), _start(r)))


def find_related(
    store: VectorStore, path: str, line: int, k: int = 5, *, same_file: bool = False
) -> list[Hit]:
    """The `k` chunks nearest to the chunk at `path:line`, best first, as complete hits.

    The chunk itself is never returned, nor (unless `same_file`) anything else from its file;
    the pieces of one split symbol count once, as in search.
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 100:
        raise InputError(f"k = {k!r}", "a number of results from 1 to 100", "pass k=5, for example")
    origin = chunk_at(store, path, line)
    seen: set[tuple[Any, ...]] = {group_key(origin.id, origin.fields, False)}
    depth = max(4 * k, 20)
    while True:
        found = store.dense_search(origin.collection, origin.vector, depth)
        hits = _collect(store, found, origin, path, k, same_file, set(seen))
        if len(hits) == k or len(found) < depth:  # enough, or the collection is exhausted
            return hits
        depth *= 4


def _collect(
    store: VectorStore,
    found: Sequence[tuple[str, float]],
    origin: Record,
    path: str,
    k: int,
    same_file: bool,
    seen: set[tuple[Any, ...]],
) -> list[Hit]:
    records = store.get([i for i, _ in found])
    hits: list[Hit] = []
    for rid, score in found:
        rec = records.get(rid)
        if rec is None or rid == origin.id or (not same_file and rec.fields.get("path") == path):
            continue
        key = group_key(rid, rec.fields, False)
        if key in seen:
            continue
        seen.add(key)
        hits.append(make_hit(rid, score, rec.fields, None, dense_score=score))
        if len(hits) == k:
            break
    return hits


def _start(r: Record) -> int:
    return int(r.fields.get("start_line") or 0)


def _end(r: Record) -> int:
    return int(r.fields.get("end_line") or 0)


def _ranges(spans: Sequence[tuple[int, int]], limit: int = 12) -> str:
    text = ", ".join(f"{a}-{b}" for a, b in spans[:limit])
    return (text + f", ... ({len(spans)} chunks)") if len(spans) > limit else (text or "none (no lines)")


def _not_indexed(store: VectorStore, path: str) -> InputError:
    sources = store.sources()
    if path in sources:
        status = sources[path].status
        return InputError(
            received=f"path {path!r}, which the index holds with no chunks ({status})",
            expected="a file with indexed content (code, text, a document)",
            fix="pick another file; an empty or skipped file has nothing to compare",
        )
    known = list(sources)
    near = difflib.get_close_matches(path, known, n=3, cutoff=0.5)
    hint = f"; close indexed paths: {', '.join(near)}" if near else ""
    return InputError(
        received=f"path {path!r}, which the index does not hold{hint}",
        expected="the path of an indexed file, relative to the indexed root (as search returns it)",
        fix="use a path from a search hit, or index the file first",
    )
