"""The derived dense index of one collection: FAISS flat, IVF, IVF-SQ8 (optionally over projected
vectors) or HNSW, keyed by SQLite rowids.

SQLite holds every vector; this index is a cache of them that can always be rebuilt. It is
written to disk atomically (omnivec.stores.dense_file), with a header naming the collection
generation it reflects.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from omnivec.errors import require
from omnivec.stores.hnsw_index import HNSW_EF_CONSTRUCTION, HNSW_M, HnswGraph
from omnivec.stores.projected_codes import (
    PROJ_NPROBE_FACTOR,
    PROJ_RESCORE_EXTRA,
    PROJ_RESCORE_FACTOR,
    ProjectedSpace,
    add_projected,
    projected_lists,
)

log = logging.getLogger(__name__)

IndexKind = Literal["flat", "ivf", "ivf-sq8", "ivf-sq8-proj", "hnsw"]

# Exact search up to here, IVF above. Measured with benchmarks/ivf_crossover.py (dim 384, one
# thread, nq=1, recall@10 >= 0.95; table in its docstring): on embedding-like data IVF is
# already faster at 20k (0.18 vs 0.93 ms), but flat is exact, needs no training and stays
# under ~3 ms up to 50k; past that flat grows linearly (6.4 ms at 100k, 21 ms at 200k) while
# IVF stays 8-13x faster. Training (seconds) happens in `flush`, not on the query path.
IVF_MIN_VECTORS = 50_000
# An IVF index goes back to flat only below this fraction of the threshold (no flip-flopping).
IVF_KEEP_FRACTION = 0.5
# Retrain when the collection has grown this much since training (nlist is sized at training).
IVF_RETRAIN_GROWTH = 4.0
# A filtered IVF search probes first only if the probed lists should hold 3x k allowed ids.
IVF_PROBE_MARGIN = 3
IVF_TRAIN_ITERATIONS = 10  # k-means iterations; 25 (faiss' default) buys no recall here
# k-means sample per list (faiss' default: 256). At 100k x 384, 32 trains in half the time of 64
# (9.6 s vs 19.8 s on a busy 2-core machine) for recall@10 0.973 vs 0.977 at nprobe 90.
IVF_TRAIN_POINTS_PER_LIST = 32

# IVF-SQ8 above this many vectors: the lists are scanned as 8-bit codes (a quarter of the bytes)
# and the best candidates re-scored with their float vectors, so scores stay exact cosines.
# Arithmetic: IVF-Flat at nprobe ~96 reads nprobe/nlist of the floats per query: 11 MB at 100k,
# 16 MB at 200k (both inside this machine's 32 MB L3), 37 MB at 1M (DRAM-bound: ~3-4 ms quiet,
# 18.5 ms at load 12, docs/benchmarks.md). Measured (benchmarks/dense_params.py, one thread,
# same lists and nprobe): 1.2x faster than IVF-Flat at 100k, 2x at 1M, at the same recall@10.
# The codes cost +26 % memory over IVF-Flat (the floats stay in RAM for re-scoring and for
# exact filtered scans), so small collections, where the gain is small, keep IVF-Flat.
SQ_MIN_VECTORS = 200_000
# Candidates re-scored in float: max(k * factor, k + extra): 50 for k = 10, 200 for k = 100 (the
# searcher's depth). 8-bit codes (per-dimension ranges) order candidates almost exactly: at 100k
# the re-scored top k equalled IVF-Flat's on the same lists (overlap 1.000 over 100 queries) from
# 20 candidates for k = 10 and 125 for k = 100 (0.971 and 0.981 with no margin); 1M reached
# recall@10 0.958 with 50, as IVF-Flat. Recall is set by nprobe; this margin only guards the
# codes' rounding. Each candidate costs a hashtable lookup (~1 us), hence no larger margin.
SQ_RESCORE_FACTOR = 2
SQ_RESCORE_EXTRA = 40

# HNSW (omnivec.stores.hnsw_index) is not picked by size: None here, a number (`LocalStore(hnsw_min=N)`)
# opts in. Measured at 1M (benchmarks/dense_params.py --hnsw, one query thread, idle machine,
# docs/benchmarks.md): the graph (M 32, efConstruction 64) reached recall@10 0.827 at efSearch 128
# (2.49 ms), 0.904 at 256 (3.66 ms), 0.926 at 384 (4.24 ms), where ivf-sq8 gave 0.956 at 4.5-4.7 ms
# in the same run; it built 4.2x slower (321 s vs 77 s) and a 20 % filter took 2.3x longer. So at
# the recall the store promises (0.95) the graph is no faster on these vectors, and ivf-sq8 stays.
HNSW_MIN_VECTORS: int | None = None
# ivf-sq8-proj from here (omnivec.stores.projected_codes): float re-scoring as ivf-sq8, its codes are
# bytes over the leading directions (160 of 384 at 1M on the benchmark's spectrum), lists cut in
# that space. Measured at 1M, idle (benchmarks/dense_params.py --proj, one thread, same process):
# 1.41 vs 4.12 ms p50 (2.9x) at recall@10 0.959 vs 0.956, 1672 vs 1873 MB per 1M vectors.
PROJ_MIN_VECTORS = 200_000


def faiss_module() -> Any:
    return require("faiss", "index", "the embedded vector store")


def ivf_nlist(n: int) -> int:
    """Number of IVF lists for `n` vectors: ~4*sqrt(n), the usual rule of thumb."""
    return max(1, round(4 * math.sqrt(max(n, 1))))


def ivf_nprobe(nlist: int) -> int:
    """Lists probed per query, for recall@10 >= 0.95 on embedding-like data at one thread.

    Measured: the crossover benchmark needed 64 up to 100k vectors (nlist 1265) and more than 64
    at 200k (nlist 1789; it tries powers of two: 128 gave 0.984); `dense_params.py` at 1M
    (nlist 4000) reached 0.958 at 96 (0.910 at 64). So nlist/14 up to 96 lists, and past
    nlist 4032 a constant share of the lists again (nlist/42), as recall at a fixed nprobe
    falls when the lists multiply. The earlier rule (nlist/14 everywhere) probed 285 at 1M:
    recall to spare at three times the scan."""
    return min(nlist, max(64, min(nlist // 14, 96), nlist // 42))


def train_ivf(vectors: np.ndarray, dim: int) -> Any:
    """A trained, empty `IndexIVFFlat` (inner product, spherical k-means) for these vectors."""
    faiss = faiss_module()
    nlist = ivf_nlist(len(vectors))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = IVF_TRAIN_ITERATIONS
    index.cp.max_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST
    index.cp.min_points_per_centroid = 1  # silence faiss' warning for small samples
    index.cp.spherical = True  # centroids on the sphere, like the vectors
    index.train(np.ascontiguousarray(vectors, dtype=np.float32))
    index.nprobe = ivf_nprobe(nlist)
    return index


def sq8_twin(ivf: Any, vectors: np.ndarray) -> Any:
    """An empty `IndexIVFScalarQuantizer` (8 bits per dimension) on `ivf`'s lists, trained on
    a sample of `vectors` (per-dimension ranges of the residuals: no k-means)."""
    faiss = faiss_module()
    sq = faiss.IndexIVFScalarQuantizer(
        ivf.quantizer, ivf.d, ivf.nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    sample = vectors[:: max(1, len(vectors) // (IVF_TRAIN_POINTS_PER_LIST * ivf.nlist))]
    sq.train(np.ascontiguousarray(sample, dtype=np.float32))  # quantizer already trained: kept
    sq.nprobe = ivf.nprobe
    return sq


@dataclass
class DenseIndex:
    """A FAISS index over (rowid, vector) pairs plus the collection generation it reflects."""

    index: Any  # flat or IVF-Flat: every float vector (for ivf-sq8: re-scoring, exact filtered scans)
    kind: IndexKind
    generation: int
    trained_on: int = 0  # vectors the IVF quantizer was trained on (0 for flat)
    codes: Any = None  # ivf-sq8: IVF-SQ8 on the same lists and rowids, scanned first
    graph: HnswGraph | None = None  # hnsw: the graph (`index` is its faiss index) and its rowids
    projection: ProjectedSpace | None = None  # ivf-sq8-proj: from float vectors to the codes' space

    @classmethod
    def flat(cls, dim: int, generation: int = 0) -> DenseIndex:
        faiss = faiss_module()
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), "flat", generation)

    @classmethod
    def ivf(cls, vectors: np.ndarray, rowids: np.ndarray, dim: int, generation: int) -> DenseIndex:
        dense = cls(train_ivf(vectors, dim), "ivf", generation, trained_on=len(vectors))
        dense.add(rowids, vectors)
        return dense

    @classmethod
    def ivf_sq8(cls, vectors: np.ndarray, rowids: np.ndarray, dim: int, generation: int) -> DenseIndex:
        faiss = faiss_module()
        ivf = train_ivf(vectors, dim)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # rowid -> float vector, for re-scoring
        dense = cls(ivf, "ivf-sq8", generation, trained_on=len(vectors), codes=sq8_twin(ivf, vectors))
        dense.add(rowids, vectors)
        return dense

    @classmethod
    def ivf_sq8_proj(cls, vectors: np.ndarray, rowids: np.ndarray, dim: int, generation: int) -> DenseIndex:
        faiss = faiss_module()
        nlist = ivf_nlist(len(vectors))
        ivf, codes, projection = projected_lists(
            np.ascontiguousarray(vectors, dtype=np.float32), nlist, round(ivf_nprobe(nlist) * PROJ_NPROBE_FACTOR),
            IVF_TRAIN_ITERATIONS, IVF_TRAIN_POINTS_PER_LIST,
        )  # fmt: skip
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # rowid -> float vector, for re-scoring
        dense = cls(ivf, "ivf-sq8-proj", generation, len(vectors), codes=codes, projection=projection)
        dense.add(rowids, vectors)
        return dense

    @classmethod
    def hnsw(
        cls, vectors: np.ndarray, rowids: np.ndarray, dim: int, generation: int, *,
        m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION,
    ) -> DenseIndex:  # fmt: skip
        graph = HnswGraph.empty(dim, m, ef_construction)
        dense = cls(graph.index, "hnsw", generation, trained_on=len(vectors), graph=graph)
        dense.add(rowids, vectors)
        return dense

    @property
    def ntotal(self) -> int:
        """Vectors searched (for hnsw: the live ones, not the removed rowids still in the graph)."""
        return self.graph.live if self.graph is not None else int(self.index.ntotal)

    @property
    def is_ivf(self) -> bool:
        return self.kind in ("ivf", "ivf-sq8", "ivf-sq8-proj")

    @property
    def nlist(self) -> int:
        return int(self.index.nlist) if self.is_ivf else 0

    def add(self, rowids: np.ndarray, vectors: np.ndarray) -> None:
        if self.graph is not None:
            self.graph.add(rowids, vectors)
        elif len(rowids):
            x = np.ascontiguousarray(vectors, dtype=np.float32)
            ids = np.asarray(rowids, dtype=np.int64)
            if self.projection is not None:
                add_projected(self.index, self.codes, self.projection, x, ids)
                return
            self.index.add_with_ids(x, ids)
            if self.codes is not None:
                self.codes.add_with_ids(x, ids)

    def remove(self, rowids: np.ndarray) -> None:
        # IndexIDMap2(flat) compacts its storage on every call: O(n), so callers batch removals.
        if self.graph is not None:
            self.graph.remove(rowids)  # tombstones: see omnivec.stores.hnsw_index
        elif len(rowids) and self.ntotal:
            ids = np.asarray(rowids, dtype=np.int64)
            self.index.remove_ids(ids)
            if self.codes is not None:
                self.codes.remove_ids(ids)

    def search(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rowids) by inner product, restricted to `allowed` rowids when given.

        Never under-fills: it returns min(k, candidates) hits. Filtered search on a flat index is
        exact (the selector is checked before any distance is computed). An IVF probe sees only
        nprobe/nlist of the allowed ids, so when that share is expected to hold fewer than
        `IVF_PROBE_MARGIN * k` of them, or a probe does come back short, every list is scanned:
        exact scoring of the allowed ids (measured: ~2-9 ms at 100k for 100-4000 allowed ids,
        vs 10-40 ms fetching those vectors from SQLite; benchmarks/ivf_crossover.py).
        ivf-sq8 probes its 8-bit codes and re-scores the best candidates with their float vectors,
        so every returned score is the exact inner product; its full scan is IVF-Flat's. ivf-sq8-proj
        does the same with codes of the projected vectors (and the projected query).
        hnsw walks its graph or scans the allowed vectors exactly (`HnswGraph.search`).
        """
        if self.graph is not None:
            return self.graph.search(vector, k, allowed)
        want = min(k, self.ntotal if allowed is None else len(allowed))
        if want <= 0:
            return np.empty(0, np.float32), np.empty(0, np.int64)
        exhaustive = False
        if self.is_ivf and allowed is not None:
            exhaustive = len(allowed) * self.index.nprobe < IVF_PROBE_MARGIN * want * self.index.nlist
        if self.codes is not None and not exhaustive:
            scores, ids = self._rescored(vector, want, allowed)
        else:
            scores, ids = self._search(vector, want, allowed, exhaustive)
        if len(ids) < want and self.is_ivf and not exhaustive:
            scores, ids = self._search(vector, want, allowed, exhaustive=True)
        return scores, ids

    def _rescored(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top k by exact inner product among the codes' best candidates (ivf-sq8, ivf-sq8-proj)."""
        faiss = faiss_module()
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        sel = None if allowed is None else faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
        if self.projection is None:
            n = min(self.ntotal, max(k * SQ_RESCORE_FACTOR, k + SQ_RESCORE_EXTRA))
        else:
            n = min(self.ntotal, max(k * PROJ_RESCORE_FACTOR, k + PROJ_RESCORE_EXTRA))
        probe = query if self.projection is None else self.projection.probe(query)
        _, ids = self.codes.search(
            probe, n, params=faiss.SearchParametersIVF(sel=sel, nprobe=self.index.nprobe)
        )
        ids = ids[0][ids[0] >= 0]
        scores = self.index.reconstruct_batch(ids) @ query[0] if len(ids) else np.empty(0, np.float32)
        top = np.argsort(-scores, kind="stable")[:k]
        return scores[top], ids[top]

    def _search(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None, exhaustive: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        faiss = faiss_module()
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        sel = None if allowed is None else faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
        if self.is_ivf:
            nprobe = self.index.nlist if exhaustive else self.index.nprobe
            params = faiss.SearchParametersIVF(sel=sel, nprobe=nprobe)
        else:
            params = faiss.SearchParameters(sel=sel) if sel is not None else None
        scores, ids = self.index.search(query, k, params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def header(self) -> dict[str, Any]:
        nprobe = int(self.index.nprobe) if self.is_ivf else 0
        head = {"kind": self.kind, "generation": self.generation, "trained_on": self.trained_on,
                "nprobe": nprobe, "ntotal": self.ntotal}  # fmt: skip
        if self.graph is not None:
            head.update(ef_search=self.graph.ef_search, dead=self.graph.dead)
        if self.projection is not None:
            head.update(self.projection.header())
        return head

    def parts(self) -> list[np.ndarray]:
        """What `save_index` writes after the header: the serialised indexes (hnsw: and rowids)."""
        faiss = faiss_module()
        if self.graph is not None:
            return [faiss.serialize_index(self.index), self.graph.rowids.astype("<i8").view(np.uint8)]
        parts = [faiss.serialize_index(x) for x in (self.index, self.codes) if x is not None]
        if self.projection is not None:
            parts.append(np.ascontiguousarray(self.projection.matrix, dtype="<f4").reshape(-1).view(np.uint8))
        return parts
