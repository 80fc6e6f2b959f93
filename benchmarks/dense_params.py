"""Dense index parameters at a million vectors: latency, recall@10 against exact search, memory.

    OMNIVEC_THREADS=1 python benchmarks/dense_params.py [--n 1000000] [--queries 200]

Vectors: dim 384 with the spectrum of real sentence embeddings (as in ivf_crossover.py; real
embeddings of a million chunks would take days to compute on this machine). Ground truth: exact
inner product (`IndexFlatIP`). Candidates, each at the smallest setting reaching recall@10 0.95:
  ivf-flat   what `omnivec.stores.faiss_index` builds (nlist 4*sqrt(n), spherical k-means)
  ivf-sq8    the same lists with 8-bit scalar-quantised codes, top 50 re-scored exactly
  hnsw       HNSW (M 32), efSearch swept
Search runs one query at a time on one thread (the searcher's shape); training and adding may
use more. Memory: bytes of the serialised index (what a reader holds), per million vectors.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from omnivec.stores.faiss_index import ivf_nlist, train_ivf

DIM, K = 384, 10


def data(n: int, nq: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    scale = ((np.arange(DIM) + 1.0) ** -0.5).astype(np.float32)
    xb = np.empty((n, DIM), np.float32)
    for a in range(0, n, 100_000):
        x = rng.standard_normal((min(100_000, n - a), DIM), dtype=np.float32) * scale
        xb[a : a + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    xq = rng.standard_normal((nq, DIM), dtype=np.float32) * scale
    return xb, xq / np.linalg.norm(xq, axis=1, keepdims=True)


def timed_search(fn, xq: np.ndarray) -> tuple[float, float, np.ndarray]:
    import faiss

    faiss.omp_set_num_threads(1)
    out, lat = np.empty((len(xq), K), np.int64), []
    for i in range(len(xq)):
        t = time.perf_counter()
        out[i] = fn(xq[i : i + 1])
        lat.append(time.perf_counter() - t)
    ms = np.array(lat) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95)), out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth)]))


def report(
    name: str, setting: str, p50: float, p95: float, rec: float, nbytes: int, n: int, build: float
) -> None:
    print(f"  {name:9s} {setting:14s} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  recall@10 {rec:.3f}  "
          f"{nbytes / 2**20 * 1e6 / n:7.0f} MB per 1M  build {build:6.0f} s", flush=True)  # fmt: skip


def sweep(name: str, index, set_param, values, xq, truth, n, build, nbytes, rerank=None) -> None:
    for v in values:
        set_param(v)
        fn = (lambda q: index.search(q, K)[1][0]) if rerank is None else rerank
        p50, p95, found = timed_search(fn, xq)
        rec = recall(found, truth)
        report(name, f"{v}", p50, p95, rec, nbytes, n, build)
        if rec >= 0.95:
            return


def main() -> None:
    import faiss

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--skip", default="")
    args = ap.parse_args()
    n = args.n
    xb, xq = data(n, args.queries)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(xb)
    p50, p95, truth = timed_search(lambda q: flat.search(q, K)[1][0], xq)
    print(f"n {n}, dim {DIM}, {args.queries} queries, faiss {faiss.__version__}")
    report("flat", "exact", p50, p95, 1.0, xb.nbytes, n, 0)
    faiss.omp_set_num_threads(2)
    t = time.perf_counter()
    ivf = train_ivf(xb, DIM)
    ivf.add(xb)
    build = time.perf_counter() - t
    nl = ivf_nlist(n)
    sweep("ivf-flat", ivf, lambda v: setattr(ivf, "nprobe", v), [32, 48, 64, 96, 128, 192, 256], xq, truth,
          n, build, faiss.serialize_index(ivf).nbytes)  # fmt: skip
    faiss.omp_set_num_threads(2)
    t = time.perf_counter()
    sq = faiss.IndexIVFScalarQuantizer(ivf.quantizer, DIM, nl, faiss.ScalarQuantizer.QT_8bit,
                                       faiss.METRIC_INNER_PRODUCT)  # fmt: skip
    sq.train(xb[:: max(1, n // 200_000)])
    sq.add(xb)
    build_sq = time.perf_counter() - t + build
    sq_bytes = faiss.serialize_index(sq).nbytes

    def rerank(q: np.ndarray) -> np.ndarray:
        ids = sq.search(q, 50)[1][0]
        ids = ids[ids >= 0]
        return ids[np.argsort(-(xb[ids] @ q[0]))[:K]]

    print(f"  (ivf-sq8 re-scores from float vectors kept apart: +{xb.nbytes / 2**20 * 1e6 / n:.0f} MB per 1M"
          " if they stay in memory, 0 if read from disk)")  # fmt: skip
    sweep("ivf-sq8", sq, lambda v: setattr(sq, "nprobe", v), [32, 48, 64, 96, 128, 192, 256], xq, truth,
          n, build_sq, sq_bytes, rerank=rerank)  # fmt: skip
    if "hnsw" not in args.skip:
        faiss.omp_set_num_threads(2)
        t = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 64
        hnsw.add(xb)
        build_h = time.perf_counter() - t
        sweep("hnsw", hnsw, lambda v: setattr(hnsw.hnsw, "efSearch", v), [32, 64, 96, 128, 192, 256, 384],
              xq, truth, n, build_h, faiss.serialize_index(hnsw).nbytes)  # fmt: skip


if __name__ == "__main__":
    main()
