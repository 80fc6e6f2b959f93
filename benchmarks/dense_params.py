"""Dense index parameters at a million vectors: latency, recall@10 against exact search, memory.

    OMNIVEC_THREADS=1 python benchmarks/dense_params.py [--n 1000000] [--queries 200]
    OMNIVEC_THREADS=1 python benchmarks/dense_params.py --n 1000000 --store-only [--k 100]
    OMNIVEC_THREADS=1 python benchmarks/dense_params.py --n 1000000 --hnsw [--ef 32,48,64,96]
        [--m 32] [--ef-construction 64] [--build-threads 2]
    OMNIVEC_THREADS=1 python benchmarks/dense_params.py --n 1000000 --proj [--k 100]

`--proj` measures the store's `ivf-sq8-proj` kind (8-bit codes over the leading directions,
`omnivec.stores.projected_codes`) against its `ivf-sq8` kind, each built as the store builds it,
queries alternating which goes first: build seconds, p50/p95, recall@k, MB per 1M, the ratio.

`--hnsw` measures the store's `hnsw` kind (`DenseIndex.hnsw`, searched through
`DenseIndex.search`) against its `ivf-sq8` kind on the same vectors and queries, queries
alternating which goes first: build seconds (faiss on `--build-threads`), p50/p95 at one
thread, recall@k against exact search, the bytes the store writes per million vectors, the
p50 ratio, and the same for a filtered search (a filter allowing 20 % of the rowids: the graph
walked with a bitmap). `--ef` sweeps the graph's efSearch on the one build (the ivf-sq8 side
runs once per setting, so each ratio is taken in the same stretch of time).

`--store-only` measures the store's own index (`DenseIndex.ivf_sq8`, what a collection past
`SQ_MIN_VECTORS` holds, searched through `DenseIndex.search`: codes probed, candidates re-scored
in float) against IVF-Flat on the very same lists and nprobe (its float half, searched as the
`ivf` kind), queries alternating which goes first; it prints p50/p95, recall@k against exact
search, memory per million vectors and the ratio. Without it, the parameter sweeps below run.

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
from functools import partial

import numpy as np

from omnivec.stores import hnsw_index
from omnivec.stores.faiss_index import DenseIndex, ivf_nlist, train_ivf

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


def store_vs_ivf_flat(xb: np.ndarray, xq: np.ndarray, k: int) -> None:
    """The store's ivf-sq8 index against IVF-Flat on the same lists, one query at a time."""
    import faiss

    n = len(xb)
    faiss.omp_set_num_threads(1)
    truth = np.empty((len(xq), k), np.int64)
    for a in range(0, len(xq), 50):  # exact top k by blocks of queries (numpy: no index copy)
        truth[a : a + 50] = np.argsort(-(xq[a : a + 50] @ xb.T), axis=1)[:, :k]
    faiss.omp_set_num_threads(2)
    t = time.perf_counter()
    sq8 = DenseIndex.ivf_sq8(xb, np.arange(n, dtype=np.int64), DIM, generation=0)
    build = time.perf_counter() - t
    flat = DenseIndex(sq8.index, "ivf", 0, trained_on=n)  # the float half: IVF-Flat, same lists
    faiss.omp_set_num_threads(1)
    lat: dict[str, list[float]] = {"ivf-flat": [], "ivf-sq8": []}
    found = {name: np.empty((len(xq), k), np.int64) for name in lat}
    exact_scores = True
    for i, q in enumerate(xq):
        for name in sorted(lat, reverse=i % 2 == 1):  # alternate which goes first
            dense = sq8 if name == "ivf-sq8" else flat
            t = time.perf_counter()
            scores, ids = dense.search(q, k)
            lat[name].append(time.perf_counter() - t)
            found[name][i] = ids
            exact_scores &= bool(np.allclose(scores, xb[ids] @ q, atol=1e-5))
    sizes = {"ivf-flat": faiss.serialize_index(sq8.index).nbytes}
    sizes["ivf-sq8"] = sizes["ivf-flat"] + faiss.serialize_index(sq8.codes).nbytes
    print(f"n {n}, dim {DIM}, {len(xq)} queries, k {k}, nlist {sq8.nlist}, nprobe {sq8.index.nprobe}, "
          f"faiss {faiss.__version__}, build {build:.0f} s")  # fmt: skip
    p50 = {}
    for name, secs in lat.items():
        ms = np.array(secs) * 1000
        p50[name] = float(np.percentile(ms, 50))
        rec = np.mean([len(set(a) & set(b)) / k for a, b in zip(found[name], truth)])
        print(f"  {name:9s} p50 {p50[name]:6.2f} ms  p95 {np.percentile(ms, 95):6.2f} ms  recall@{k} {rec:.3f}"
              f"  {sizes[name] / 2**20 * 1e6 / n:6.0f} MB per 1M")  # fmt: skip
    print(f"  ivf-flat / ivf-sq8 p50: {p50['ivf-flat'] / p50['ivf-sq8']:.2f}x; ivf-sq8 scores exact "
          f"(float inner product to 1e-5): {exact_scores}")  # fmt: skip


def exact_top(xb: np.ndarray, xq: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Exact top k by blocks of queries (numpy: no index copy); `allowed` restricts the rows."""
    base = xb if allowed is None else xb[allowed]
    out = np.empty((len(xq), k), np.int64)
    for a in range(0, len(xq), 50):
        top = np.argsort(-(xq[a : a + 50] @ base.T), axis=1)[:, :k]
        out[a : a + 50] = top if allowed is None else allowed[top]
    return out


def hnsw_vs_ivf_sq8(
    xb: np.ndarray, xq: np.ndarray, k: int, efs: list[int], threads: int, m: int, efc: int
) -> None:
    """The store's hnsw kind against its ivf-sq8 kind, one query at a time on one thread."""
    import faiss

    n, rids = len(xb), np.arange(len(xb), dtype=np.int64)
    allowed = rids[np.random.default_rng(1).random(n) < 0.2]  # a broad filter: walked, not scanned
    faiss.omp_set_num_threads(1)
    truth = {"all": exact_top(xb, xq, k), "filter": exact_top(xb, xq, k, allowed)}
    built: dict[str, DenseIndex] = {}
    build: dict[str, float] = {}
    for name, make in (
        ("hnsw", partial(DenseIndex.hnsw, m=m, ef_construction=efc)),
        ("ivf-sq8", DenseIndex.ivf_sq8),
    ):
        faiss.omp_set_num_threads(threads)
        t = time.perf_counter()
        built[name] = make(xb, rids, DIM, 0)
        build[name] = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    mb = {name: sum(p.nbytes for p in d.parts()) / 2**20 * 1e6 / n for name, d in built.items()}
    graph = built["hnsw"].graph
    assert graph is not None
    print(f"n {n}, dim {DIM}, {len(xq)} queries, k {k}, faiss {faiss.__version__}, hnsw M {graph.index.hnsw.nb_neighbors(1)}"
          f" efConstruction {graph.index.hnsw.efConstruction}, ivf-sq8 nlist {built['ivf-sq8'].nlist} nprobe "
          f"{built['ivf-sq8'].index.nprobe}, build threads {threads}")  # fmt: skip
    for name in built:
        print(f"  {name:8s} build {build[name]:6.0f} s  {mb[name]:6.0f} MB per 1M")
    print(
        f"  build hnsw / ivf-sq8: {build['hnsw'] / build['ivf-sq8']:.2f}x; memory {mb['hnsw'] / mb['ivf-sq8']:.2f}x"
    )
    for ef in efs:
        graph.ef_search = ef
        for label, allow in (("all", None), ("filter", allowed)):
            lat: dict[str, list[float]] = {name: [] for name in built}
            found = {name: np.empty((len(xq), k), np.int64) for name in built}
            for i, q in enumerate(xq):
                for name in sorted(built, reverse=i % 2 == 1):  # alternate which goes first
                    t = time.perf_counter()
                    _, ids = built[name].search(q, k, allow)
                    lat[name].append(time.perf_counter() - t)
                    found[name][i] = ids
            p50 = {name: float(np.percentile(np.array(v) * 1000, 50)) for name, v in lat.items()}
            for name, v in lat.items():
                rec = np.mean([len(set(a) & set(b)) / k for a, b in zip(found[name], truth[label])])
                print(f"  ef {ef:4d} {label:6s} {name:8s} p50 {p50[name]:6.3f} ms  p95 "
                      f"{np.percentile(np.array(v) * 1000, 95):6.3f} ms  recall@{k} {rec:.3f}", flush=True)  # fmt: skip
            print(
                f"  ef {ef:4d} {label:6s} ivf-sq8 / hnsw p50: {p50['ivf-sq8'] / p50['hnsw']:.2f}x", flush=True
            )


def proj_vs_ivf_sq8(xb: np.ndarray, xq: np.ndarray, k: int, threads: int) -> None:
    """The store's ivf-sq8-proj kind against its ivf-sq8 kind, one query at a time on one thread."""
    import faiss

    n, rids = len(xb), np.arange(len(xb), dtype=np.int64)
    faiss.omp_set_num_threads(1)
    truth = exact_top(xb, xq, k)
    built: dict[str, DenseIndex] = {}
    build: dict[str, float] = {}
    for name, make in (("ivf-sq8", DenseIndex.ivf_sq8), ("ivf-sq8-proj", DenseIndex.ivf_sq8_proj)):
        faiss.omp_set_num_threads(threads)
        t = time.perf_counter()
        built[name] = make(xb, rids, DIM, 0)
        build[name] = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    proj = built["ivf-sq8-proj"].projection
    assert proj is not None
    print(f"n {n}, dim {DIM}, {len(xq)} queries, k {k}, faiss {faiss.__version__}, nlist {built['ivf-sq8'].nlist}, "
          f"nprobe {built['ivf-sq8'].index.nprobe} / {built['ivf-sq8-proj'].index.nprobe}, directions kept {proj.dims}, build threads {threads}")  # fmt: skip
    lat: dict[str, list[float]] = {name: [] for name in built}
    found = {name: np.empty((len(xq), k), np.int64) for name in built}
    exact_scores = True
    for i, q in enumerate(xq):
        for name in sorted(built, reverse=i % 2 == 1):  # alternate which goes first
            t = time.perf_counter()
            scores, ids = built[name].search(q, k)
            lat[name].append(time.perf_counter() - t)
            found[name][i] = ids
            exact_scores &= bool(np.allclose(scores, xb[ids] @ q, atol=1e-5))
    p50 = {name: float(np.percentile(np.array(v) * 1000, 50)) for name, v in lat.items()}
    for name, v in lat.items():
        rec = np.mean([len(set(a) & set(b)) / k for a, b in zip(found[name], truth)])
        mb = sum(p.nbytes for p in built[name].parts()) / 2**20 * 1e6 / n
        print(f"  {name:12s} build {build[name]:5.0f} s  p50 {p50[name]:6.3f} ms  p95 "
              f"{np.percentile(np.array(v) * 1000, 95):6.3f} ms  recall@{k} {rec:.3f}  {mb:6.0f} MB per 1M")  # fmt: skip
    print(
        f"  ivf-sq8 / ivf-sq8-proj p50: {p50['ivf-sq8'] / p50['ivf-sq8-proj']:.2f}x; scores exact: {exact_scores}"
    )


def main() -> None:
    import faiss

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--skip", default="")
    ap.add_argument("--store-only", action="store_true", help="the store's index vs IVF-Flat only")
    ap.add_argument("--k", type=int, default=K, help="with --store-only/--hnsw: hits per query")
    ap.add_argument("--hnsw", action="store_true", help="the store's hnsw kind vs its ivf-sq8 kind")
    ap.add_argument("--ef", default=str(hnsw_index.HNSW_EF_SEARCH), help="with --hnsw: efSearch values")
    ap.add_argument("--m", type=int, default=hnsw_index.HNSW_M, help="with --hnsw: graph degree M")
    ap.add_argument("--ef-construction", type=int, default=hnsw_index.HNSW_EF_CONSTRUCTION)
    ap.add_argument("--build-threads", type=int, default=2, help="faiss threads while building")
    ap.add_argument("--proj", action="store_true", help="the store's ivf-sq8-proj kind vs its ivf-sq8 kind")
    args = ap.parse_args()
    n = args.n
    xb, xq = data(n, args.queries)
    if args.proj:
        proj_vs_ivf_sq8(xb, xq, args.k, args.build_threads)
        return
    if args.hnsw:
        efs = [int(e) for e in args.ef.split(",")]
        hnsw_vs_ivf_sq8(xb, xq, args.k, efs, args.build_threads, args.m, args.ef_construction)
        return
    if args.store_only:
        store_vs_ivf_flat(xb, xq, args.k)
        return
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
