"""Dense index files: one header (JSON) and the serialised parts of a `DenseIndex`, written
atomically; readers check every size before trusting a byte (a torn or foreign file is ignored
and rebuilt from SQLite, never loaded half)."""

from __future__ import annotations

import itertools
import logging
import struct
from pathlib import Path
from typing import IO, Any

import numpy as np

from omnivec.stores.faiss_index import DenseIndex, faiss_module
from omnivec.stores.hnsw_index import HnswGraph
from omnivec.stores.index_files import header_bytes, split_header, write_atomic
from omnivec.stores.index_files import read_stamp as read_index_stamp
from omnivec.stores.projected_codes import NORM_DIMS, ProjectedSpace

log = logging.getLogger(__name__)

_MAGIC = b"OMNIVEC-FAISS\x01"
# parts per kind, in this order: serialised faiss indexes (hnsw: the graph, then its label ->
# rowid map as raw little-endian int64, -1 for a removed rowid; ivf-sq8-proj: the float IVF, the
# codes, then the projection as raw little-endian float32, dim x kept directions; the codes'
# byte steps, offsets and bound are in the header)
_PARTS = {"flat": 1, "ivf": 1, "ivf-sq8": 2, "ivf-sq8-proj": 3, "hnsw": 2}


def save_index(path: Path, dense: DenseIndex, stamp: dict[str, Any]) -> None:
    """Write atomically: a reader sees the old file or the new one, never a torn one."""
    parts = dense.parts()
    sizes = [int(p.nbytes) for p in parts]  # ivf-sq8: the float IVF, then its codes
    head = {**stamp, **dense.header(), "payload_bytes": sum(sizes), "parts": sizes}

    def write(f: IO[bytes]) -> None:
        f.write(header_bytes(_MAGIC, head))
        for part in parts:
            f.write(part.data)

    write_atomic(path, write)


def load_index(path: Path, *, warn: bool = True) -> tuple[dict[str, Any], DenseIndex] | None:
    """The index and its stamp, or None when the file is missing or unreadable (then rebuild).

    `warn=False` logs an unreadable file at debug level only (the caller already said so)."""
    faiss_module()  # a clear error without faiss, before the file is read
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        head, base = split_header(data, _MAGIC)
        payload = np.frombuffer(data, dtype=np.uint8, offset=base)
        # files written before ivf-sq8 (flat, ivf) have one part and no "parts" field
        sizes = head.get("parts", [payload.nbytes])
        if _PARTS.get(head["kind"]) != len(sizes) or sum(sizes) != payload.nbytes:
            raise ValueError(f"kind {head['kind']!r} with parts of {sizes} bytes")
        chunks = [payload[a:b] for a, b in itertools.pairwise(np.cumsum([0, *sizes]))]
        dense = _decode(head, chunks)
    except (ValueError, KeyError, RuntimeError, struct.error) as exc:
        log.log(logging.WARNING if warn else logging.DEBUG,
                "ignoring unreadable dense index %s (%s); rebuilt from SQLite in memory until the next "
                "write or `omnivec repair` replaces the file", path, exc)  # fmt: skip
        return None
    return head, dense


def _decode(head: dict[str, Any], chunks: list[np.ndarray]) -> DenseIndex:
    """The index a file's header and parts describe; ValueError/RuntimeError when they disagree."""
    faiss = faiss_module()
    kind, generation, trained_on = head["kind"], head["generation"], head.get("trained_on", 0)
    if kind == "hnsw":
        index = faiss.deserialize_index(chunks[0])
        rowids = chunks[1].view("<i8").astype(np.int64)
        if len(rowids) != index.ntotal:
            raise ValueError(f"{len(rowids)} rowids for a graph of {index.ntotal} vectors")
        graph = HnswGraph(index, rowids)  # efSearch is the code's (a query-time knob), not the file's
        return DenseIndex(index, kind, generation, trained_on, graph=graph)
    raw = None
    if kind == "ivf-sq8-proj":
        *chunks, raw = chunks
    index, *codes = [faiss.deserialize_index(c) for c in chunks]
    projection = None
    if raw is not None:
        kept = int(head.get("proj_dims", codes[0].d))
        matrix = raw.view("<f4").astype(np.float32)
        if matrix.size != index.d * kept:
            raise ValueError(f"projection of {matrix.size} floats for dim {index.d} x {kept} directions")
        projection = ProjectedSpace.from_header(matrix.reshape(index.d, kept), head)
        if codes[0].d != kept + (NORM_DIMS if projection.steps is not None else 0):
            raise ValueError(f"codes of dimension {codes[0].d} for {kept} directions")
    for ivf in (index, *codes) if kind != "flat" else ():
        ivf.nprobe = head["nprobe"]
    return DenseIndex(
        index, kind, generation, trained_on, codes=codes[0] if codes else None, projection=projection
    )


def read_stamp(path: Path) -> dict[str, Any] | None:
    """Only the header of a saved index (`index_files.read_stamp`)."""
    return read_index_stamp(path, _MAGIC)
