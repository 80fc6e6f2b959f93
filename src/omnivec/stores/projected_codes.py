"""8-bit IVF codes over the leading directions of the vectors (the `ivf-sq8-proj` dense kind).

Embedding spectra fall steeply: on the benchmark's vectors (dim 384, the spectrum of real sentence
embeddings) the leading 64-128 directions of the second-moment matrix carry 71-83 % of it, and
since queries share that spectrum, inner products on those directions alone rank the true top 10
inside the top 100 almost always (0.999 at 96 directions, 200k vectors). So the codes scanned per
query can be a quarter to a third of ivf-sq8's bytes, and the float vectors re-score the
candidates exactly as ivf-sq8 does (benchmarks/dense_params.py --proj, docs/benchmarks.md).

The directions are the eigenvectors of the *uncentred* second moment X^T X: an orthonormal
projection P keeps q.x ~ (P^T q).(P^T x) when the dropped directions carry little of either;
centred PCA would drop the mean's share of every inner product and change the order.

The codes are bytes scanned by faiss' integer path (`QT_8bit_direct` with L2: no decoding, integer
products; at 1M, one thread, 1.41 ms p50 against 2.4 ms for 8-bit codes with per-direction ranges
on the same directions, docs/benchmarks.md). A vector's bytes are c_i = round(y_i / s_i) + m_i,
each direction with its own step s_i and centred at 128 by its offset m_i. A query's bytes are
u = v + 128, v_i = round(t q_i s_i) in -127..127 (t > 0 per query, which changes no order).
NORM_DIMS more bytes per vector hold integers whose squares add up to bound - |c - 128|^2 (the
query has zeros there). Then ||u - c||^2 + those squares = |u|^2 + bound - 128^2 kept - 2 v . c,
and v . c = t sum q_i y_i + (a constant per query): the L2 order of the bytes is the order of q . y
up to rounding, which float re-scoring repairs. Byte vectors cannot be assigned to lists by L2
(their norm bytes would weigh in), so both indexes take the float index's assignment; the codes'
quantizer holds the centroids in the query's byte space with one float norm column, so probing
by L2 ranks the lists by inner product too. Files written before byte codes (8-bit codes on
residuals, probed with the projected floats) still load and search as they did (`steps` None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Directions kept: the fewest (a multiple of PROJ_STEP) holding this share of the second moment's
# trace. Measured at 200k on the benchmark's vectors (one thread, nprobe 96, 100 candidates
# re-scored): 64 directions (71 %) gave recall@10 0.959 and 96 (78 %) more, against 0.967 for
# ivf-sq8 on the same lists. On real MiniLM vectors (benchmarks/projection_recall.py: dev-set
# documents and their real queries, no IVF) the share of each query's exact top 10 inside the top
# 100 by projected score is 0.983 / 0.995 / 0.993 at 80 % (docstring / code-to-code / js) and
# 0.997 / 0.999 / 0.999 at 85 % (96-128 directions): prose queries against code lean on more
# directions than the documents' spectrum alone suggests, hence 85 %.
PROJ_ENERGY = 0.85
PROJ_STEP = 16
# Candidates re-scored in float: max(k * factor, k + extra), 100 for k = 10, 300 for k = 100.
# Wider than ivf-sq8's (50) because the dropped directions, not only the 8-bit rounding, perturb
# the order (64 directions: 0.932 with 50 candidates, 0.959 with 100, 0.963 with 200).
PROJ_RESCORE_FACTOR = 3
PROJ_RESCORE_EXTRA = 90
# Lists probed: 7/6 of IVF-Flat's rule (`faiss_index.ivf_nprobe`: 112 instead of 96 up to 4032
# lists). Lists cut in the projected space hold the same share of a query's top 10 in fewer
# vectors, but at 1M (4000 lists) 96 of them reached recall@10 0.945 and 112 0.957, scanning
# 50,275 codes per query where ivf-sq8-proj's earlier lists (IVF-Flat's, projected) scanned 52,444
# at 96 for 0.958; at 200k and 400k 96 already gave 0.965 / 0.973 (benchmarks/dense_params.py).
PROJ_NPROBE_FACTOR = 7 / 6


def leading_directions(sample: np.ndarray, energy: float = PROJ_ENERGY) -> np.ndarray:
    """A (dim, d) float32 matrix with orthonormal columns: the leading eigenvectors of the sample's
    uncentred second moment, as few as hold `energy` of its trace (a multiple of PROJ_STEP)."""
    x = np.asarray(sample, dtype=np.float64)
    dim = x.shape[1]
    values, vectors = np.linalg.eigh(x.T @ x)  # ascending
    values, vectors = values[::-1].clip(min=0), vectors[:, ::-1]
    share = np.cumsum(values) / max(float(values.sum()), 1e-30)
    keep = int(np.searchsorted(share, energy)) + 1
    keep = min(dim, -(-keep // PROJ_STEP) * PROJ_STEP)
    return np.ascontiguousarray(vectors[:, :keep], dtype=np.float32)


# Extra bytes per code carrying the norm term (up to 16 x 255^2 of it; greedy squares reach any
# integer in a handful of bytes); a multiple of 16 with the kept directions, as faiss' integer
# scan needs.
NORM_DIMS = 16
NORM_CAPACITY = NORM_DIMS * 255**2
# Steps across each direction's range over the sample: 200 of the 255 leave ~13 % headroom each
# side for vectors past the sample's range (they are clipped: they lose only order among the
# candidates, which float re-scoring repairs).
BYTE_STEPS = 200
# Vectors encoded and added at a time: a 1M build's byte codes (as float32 for faiss, 176 numbers a
# vector) and projections would otherwise be ~1.3 GB of temporaries beside the vectors.
ADD_BLOCK = 65_536


def project(vectors: np.ndarray, projection: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(vectors, dtype=np.float32) @ projection)


@dataclass
class ProjectedSpace:
    """From float vectors to what the codes index holds and is probed with (see the module doc)."""

    matrix: np.ndarray  # (dim, kept) orthonormal columns
    steps: np.ndarray | None = None  # (kept,) step per direction; None: float probes (older files)
    offsets: np.ndarray | None = None  # (kept,) integer offsets m, centring each direction at 128
    bound: float = 0.0  # |c - 128|^2 + the norm bytes' squares, for every vector

    @property
    def dims(self) -> int:
        return int(self.matrix.shape[1])

    @classmethod
    def fit(cls, matrix: np.ndarray, projected: np.ndarray) -> ProjectedSpace:
        """Each direction's range over the projected sample spans BYTE_STEPS steps, centred."""
        lo, hi = projected.min(axis=0), projected.max(axis=0)
        steps = np.maximum((hi - lo) / BYTE_STEPS, 1e-12).astype(np.float32)
        offsets = (128.0 - np.rint((lo + hi) / 2 / steps)).astype(np.float32)
        space = cls(matrix, steps, offsets)
        c = space.codes(projected) - 128
        sq = np.einsum("ij,ij->i", c, c, dtype=np.float64)
        # every vector's deficit (bound - |c - 128|^2) must fit the norm bytes: vectors past the
        # sample's largest norm or below bound - capacity lose exactness, not their place in a list
        space.bound = float(min(sq.max() + 0.05 * NORM_CAPACITY, sq.min() + NORM_CAPACITY))
        return space

    def codes(self, projected: np.ndarray) -> np.ndarray:
        """The kept directions as bytes (as floats 0..255)."""
        assert self.steps is not None and self.offsets is not None
        return np.clip(np.rint(projected / self.steps) + self.offsets, 0, 255)

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """What the codes index stores for these vectors: bytes, then the norm bytes."""
        y = project(vectors, self.matrix)
        if self.steps is None:
            return y
        c = self.codes(y)
        deficit = np.clip(
            self.bound - np.einsum("ij,ij->i", c - 128, c - 128, dtype=np.float64), 0, NORM_CAPACITY
        )
        norm = np.zeros((len(c), NORM_DIMS), np.float32)
        for j in range(NORM_DIMS):  # largest square first: what is left falls below 2 sqrt(it) + 1
            norm[:, j] = np.minimum(np.floor(np.sqrt(deficit)), 255)
            deficit -= norm[:, j].astype(np.float64) ** 2
        return np.ascontiguousarray(np.hstack([c, norm]), dtype=np.float32)

    def probe(self, query: np.ndarray) -> np.ndarray:
        """What the codes index is searched with: the query times each direction's step, scaled
        to -127..127 (a positive scale per query: the order is unchanged) and centred at 128."""
        y = project(query, self.matrix)
        if self.steps is None:
            return y
        v = y * self.steps
        v = np.rint(v * (127 / np.maximum(np.abs(v).max(axis=1, keepdims=True), 1e-30))) + 128
        return np.ascontiguousarray(
            np.hstack([v, np.zeros((len(v), NORM_DIMS), np.float32)]), dtype=np.float32
        )

    def list_entries(self, centroids: np.ndarray) -> np.ndarray:
        """The codes quantizer's entries for these (projected) centroids: probing them with
        `probe(q)` in L2 ranks them by q . centroid (floats: one norm column is enough)."""
        assert self.steps is not None and self.offsets is not None
        e = centroids / self.steps + self.offsets
        out = np.zeros((len(e), self.dims + NORM_DIMS), np.float32)
        out[:, : self.dims] = e
        sq = np.einsum("ij,ij->i", e - 128, e - 128, dtype=np.float64)
        out[:, self.dims] = np.sqrt(np.maximum(sq.max() - sq, 0))
        return out

    def header(self) -> dict[str, Any]:
        head: dict[str, Any] = {"proj_dims": self.dims}
        if self.steps is not None and self.offsets is not None:
            head.update(
                code_steps=self.steps.tolist(),
                code_offsets=self.offsets.astype(int).tolist(),
                code_bound=self.bound,
            )
        return head

    @classmethod
    def from_header(cls, matrix: np.ndarray, head: dict[str, Any]) -> ProjectedSpace:
        if "code_steps" not in head:
            return cls(matrix)
        steps = np.asarray(head["code_steps"], dtype=np.float32)
        offsets = np.asarray(head["code_offsets"], dtype=np.float32)
        if steps.shape != (matrix.shape[1],) or offsets.shape != steps.shape:
            raise ValueError(
                f"{steps.size} code steps, {offsets.size} offsets for {matrix.shape[1]} directions"
            )
        return cls(matrix, steps, offsets, float(head["code_bound"]))


def projected_lists(
    vectors: np.ndarray, nlist: int, nprobe: int, iterations: int, points_per_list: int
) -> tuple[Any, Any, ProjectedSpace]:
    """The three parts of an `ivf-sq8-proj` index, empty: an `IndexIVFFlat` over the float vectors,
    an `IndexIVFScalarQuantizer` of bytes over the projected ones, both on the same `nlist` lists,
    and the space between them. The lists are a spherical k-means of the projected sample (as many
    sample points per list as IVF-Flat's training takes), so they are cut where the codes look;
    the float index holds the centroids lifted back (P c): x . (P c) = (P^T x) . c, so its
    assignment, which both indexes take (`add_projected`), is the projected one."""
    import faiss

    dim = vectors.shape[1]
    sample = vectors[:: max(1, len(vectors) // (points_per_list * nlist))]
    matrix = leading_directions(sample)
    projected = project(sample, matrix)
    kmeans = faiss.Kmeans(
        matrix.shape[1], nlist, niter=iterations, spherical=True,
        max_points_per_centroid=points_per_list, min_points_per_centroid=1,
    )  # fmt: skip
    kmeans.train(projected)
    centroids = np.ascontiguousarray(kmeans.centroids, dtype=np.float32)
    floats = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    floats.quantizer.add(np.ascontiguousarray(centroids @ matrix.T))
    floats.train(sample[:nlist])  # the quantizer holds nlist centroids: faiss keeps them
    floats.nprobe = nprobe
    space = ProjectedSpace.fit(matrix, projected)
    d = space.dims + NORM_DIMS
    quantizer = faiss.IndexFlatL2(d)
    lists = space.list_entries(centroids)
    quantizer.add(lists)
    codes = faiss.IndexIVFScalarQuantizer(
        quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit_direct, faiss.METRIC_L2, False
    )
    codes.train(lists)  # nothing to learn for direct bytes; the quantizer keeps its centroids
    codes.nprobe = nprobe
    return floats, codes, space


def add_projected(
    floats: Any, codes: Any, space: ProjectedSpace, vectors: np.ndarray, ids: np.ndarray
) -> None:
    """Add to both indexes of an `ivf-sq8-proj`. Byte codes cannot be assigned to lists in their
    own space (their norm bytes would weigh in), so both take the float index's assignment."""
    import faiss

    if space.steps is None:
        floats.add_with_ids(vectors, ids)
        codes.add_with_ids(space.encode(vectors), ids)
        return
    for start in range(0, len(vectors), ADD_BLOCK):  # a build passes every vector at once
        # add_core reads raw pointers: every array contiguous and of the type faiss expects
        x = np.ascontiguousarray(vectors[start : start + ADD_BLOCK], dtype=np.float32)
        block = np.ascontiguousarray(ids[start : start + ADD_BLOCK], dtype=np.int64)
        _, lists = floats.quantizer.search(x, 1)
        lists = np.ascontiguousarray(lists[:, 0], dtype=np.int64)
        for index, rows in ((floats, x), (codes, space.encode(x))):
            index.add_core(len(rows), faiss.swig_ptr(rows), faiss.swig_ptr(block), faiss.swig_ptr(lists))
