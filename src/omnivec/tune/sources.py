"""Where candidates come from: an indexed store (what `omnivec tune` uses) or source files.

A store already holds every chunk's text and vector, so candidates and their dense neighbours
(the hard negatives) cost no model run. Files are chunked with the same chunker the indexer
uses; their neighbours need vectors the caller computes (see `matrix_neighbours`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivec.errors import InputError
from omnivec.tune.pairs import Candidate, Pair

if TYPE_CHECKING:
    from omnivec.stores.base import Record, VectorStore

log = logging.getLogger(__name__)

TEXT = "text"
NEIGHBOURS = 30  # dense neighbours looked at per positive when choosing its hard negative


def is_function(fields: Mapping[str, Any]) -> bool:
    """A function or method chunk (or a piece of one the chunker split), not a class outline or
    a line window."""
    node = str(fields.get("node") or "")
    return fields.get("kind") == "code" and ("function" in node or "method" in node)


def under(path: str, prefixes: Sequence[str]) -> bool:
    """`path` (relative, posix) is one of `prefixes` or inside one; an empty list means everything."""
    if not prefixes:
        return True
    return any(p in ("", ".") or path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def store_records(store: VectorStore, prefixes: Sequence[str] = ()) -> list[Record]:
    """Every function chunk of the text collection whose path lies under `prefixes`, with vectors."""
    from omnivec.stores.base import Filter

    info = next((c for c in store.collections() if c.name == TEXT), None)
    if info is None or info.count == 0:
        raise InputError(
            received="an index with no text collection (no code or documents embedded)",
            expected="an index of a folder with source code",
            fix="run `omnivec index PATH` first",
        )
    # a filtered dense search never under-fills: k = the collection's size returns every match
    probe = np.zeros(info.dim, dtype=np.float32)
    ids = [i for i, _ in store.dense_search(TEXT, probe, info.count, Filter(kinds=("code",)))]
    records = store.get(ids, with_vectors=True)
    kept = [r for r in records.values() if is_function(r.fields) and under(_path(r), prefixes)]
    return sorted(kept, key=lambda r: (_path(r), int(r.fields.get("start_line") or 0)))


def store_candidates(
    store: VectorStore, prefixes: Sequence[str] = ()
) -> tuple[list[Candidate], dict[str, np.ndarray]]:
    """Whole functions under `prefixes` (pieces of a split function joined again) and the stored
    vector of each (its first piece's), keyed by candidate id."""
    out: list[Candidate] = []
    vectors: dict[str, np.ndarray] = {}
    for group in _whole_functions(store_records(store, prefixes)):
        first, f = group[0], group[0].fields
        code = "\n".join(str(r.fields.get("display") or r.text) for r in group)
        out.append(Candidate(first.id, _path(first), f.get("symbol"), f.get("language"), code))
        vectors[first.id] = first.vector
    return out, vectors


def _path(r: Record) -> str:
    return str(r.fields.get("path") or r.source)


def _whole_functions(records: Sequence[Record]) -> list[list[Record]]:
    """Records grouped so that the consecutive pieces of one split function form one group."""
    groups: list[list[Record]] = []
    for r in records:
        prev = groups[-1][-1] if groups else None
        if (
            prev is not None and r.fields.get("part") and prev.fields.get("part")
            and _path(prev) == _path(r) and prev.fields.get("symbol") == r.fields.get("symbol")
            and int(r.fields.get("start_line") or 0) <= int(prev.fields.get("end_line") or 0) + 2
        ):  # fmt: skip
            groups[-1].append(r)
        else:
            groups.append([r])
    return groups


def store_neighbours(
    store: VectorStore, vectors: Mapping[str, np.ndarray], k: int = NEIGHBOURS
) -> Callable[[Pair], list[str]]:
    """Dense neighbours of a pair's positive among the candidates `vectors` holds (the pool)."""
    from omnivec.stores.base import Filter

    flt = Filter(kinds=("code",))

    def near(p: Pair) -> list[str]:
        vec = vectors.get(p.source_id)
        if vec is None:
            return []
        return [i for i, _ in store.dense_search(TEXT, vec, k + 1, flt) if i in vectors]

    return near


def matrix_neighbours(
    ids: Sequence[str], vectors: np.ndarray, k: int = NEIGHBOURS
) -> Callable[[Pair], list[str]]:
    """Dense neighbours from an in-memory matrix of L2-normalised vectors (one row per id)."""
    row = {i: n for n, i in enumerate(ids)}

    def near(p: Pair) -> list[str]:
        n = row.get(p.source_id)
        if n is None:
            return []
        scores = vectors @ vectors[n]
        top = np.argpartition(-scores, min(k, len(ids) - 1))[: k + 1]
        return [ids[j] for j in top[np.argsort(-scores[top])]]

    return near


def file_candidates(root: Path, files: Iterable[Path], language: str = "python") -> list[Candidate]:
    """Function chunks of source files, cut by the indexer's chunker (no model involved)."""
    from omnivec.ingest.code import code_drafts

    out: list[Candidate] = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            log.info("skipping %s: %s", path, exc)
            continue
        for n, d in enumerate(code_drafts(text, rel, language)):
            fields = {"kind": "code", **d.extra}
            if is_function(fields):  # drafts are whole: the chunker splits only in `fit`
                out.append(Candidate(f"{rel}#{n}", rel, d.symbol, language, d.display + "\n"))
    return out
