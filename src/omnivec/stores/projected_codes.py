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
"""

from __future__ import annotations

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


def project(vectors: np.ndarray, projection: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(vectors, dtype=np.float32) @ projection)


def projected_sq8(ivf: Any, sample: np.ndarray, projection: np.ndarray) -> Any:
    """An empty `IndexIVFScalarQuantizer` (8 bits per kept direction, residuals) whose lists are
    `ivf`'s centroids projected (no second k-means: a vector's list is its nearest projected
    centroid), trained on the projected `sample`."""
    import faiss

    d = projection.shape[1]
    quantizer = faiss.IndexFlatIP(d)
    quantizer.add(project(ivf.quantizer.reconstruct_n(0, ivf.nlist), projection))
    codes = faiss.IndexIVFScalarQuantizer(
        quantizer, d, ivf.nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    codes.train(project(sample, projection))  # quantizer already holds nlist centroids: kept
    codes.nprobe = ivf.nprobe
    return codes
