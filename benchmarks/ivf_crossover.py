"""Where does IVF start beating exact (flat) inner-product search? Picks `IVF_MIN_VECTORS`.

Usage: python benchmarks/ivf_crossover.py [--sizes 10000,20000,50000,100000,200000] [--data both]
       python benchmarks/ivf_crossover.py store --sizes 100000   # LocalStore end to end

For each size n: random L2-normalised vectors (dim 384), `IndexFlatIP` vs `IndexIVFFlat` with
nlist = 4*sqrt(n) trained the way `omnivec.stores.faiss_index` trains it; nprobe is the smallest
power of two reaching recall@10 >= 0.95 against the flat result. Latency is per single query
(nq=1, one thread: the searcher's shape). Two data sets:
  spectrum   Gaussian with per-dimension scale (i+1)^-0.5, then normalised: variance decays over
             dimensions as in real sentence embeddings (low intrinsic dimension), so neighbours
             are meaningful but not trivially clustered;
  uniform    points uniform on the sphere: no structure at all, the worst case for IVF.
(Well-separated Gaussian blobs were tried too: recall 0.95 at nprobe 1-2, too easy to choose by.)

Measured (2-core shared VM, faiss-cpu 1.15.1, 100 queries; 64 training points per list):
  spectrum n=  10000 flat  0.19 ms | ivf nlist= 400 nprobe= 64  0.09 ms recall 0.988 train  0.3 s
  spectrum n=  20000 flat  0.93 ms | ivf nlist= 566 nprobe= 64  0.18 ms recall 0.987 train  0.9 s
  spectrum n=  50000 flat  3.00 ms | ivf nlist= 894 nprobe= 64  0.36 ms recall 0.967 train  3.3 s
  spectrum n= 100000 flat  6.39 ms | ivf nlist=1265 nprobe= 64  0.50 ms recall 0.974 train  7.8 s
  spectrum n= 200000 flat 21.41 ms | ivf nlist=1789 nprobe=128  2.70 ms recall 0.984 train 29.2 s
  uniform  n=  10000 flat  0.62 ms | ivf nlist= 400 nprobe=400  0.83 ms recall 1.000
  uniform  n=  50000 flat  4.47 ms | ivf nlist= 894 nprobe=894  5.83 ms recall 1.000
  uniform  n= 100000 flat  8.64 ms | ivf nlist=1265 nprobe=1265 13.5 ms recall 1.000
=> IVF_MIN_VECTORS = 50_000 (flat stays exact and under ~3 ms below it); nprobe = max(64,
   nlist/14). Structureless data never favours IVF; real embeddings behave like `spectrum`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from omnivec.stores.faiss_index import ivf_nlist, train_ivf

DIM = 384
K = 10
TARGET_RECALL = 0.95


def normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_data(kind: str, n: int, nq: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if kind == "uniform":
        return normalise(rng.standard_normal((n, DIM))), normalise(rng.standard_normal((nq, DIM)))
    scale = (np.arange(DIM) + 1.0) ** -0.5
    return normalise(rng.standard_normal((n, DIM)) * scale), normalise(rng.standard_normal((nq, DIM)) * scale)


def per_query_ms(index, xq: np.ndarray) -> tuple[float, np.ndarray]:
    out = np.empty((len(xq), K), dtype=np.int64)
    t0 = time.perf_counter()
    for i in range(len(xq)):
        out[i] = index.search(xq[i : i + 1], K)[1][0]
    return (time.perf_counter() - t0) * 1000 / len(xq), out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def bench(kind: str, n: int, nq: int, rng: np.random.Generator) -> None:
    import faiss

    xb, xq = make_data(kind, n, nq, rng)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(xb)
    flat_ms, truth = per_query_ms(flat, xq)
    t0 = time.perf_counter()
    ivf = train_ivf(xb, DIM)
    ivf.add(xb)
    train_s = time.perf_counter() - t0
    nlist = ivf_nlist(n)
    for nprobe in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, nlist):
        ivf.nprobe = min(nprobe, nlist)
        ivf_ms, found = per_query_ms(ivf, xq)
        r = recall(found, truth)
        if r >= TARGET_RECALL or nprobe >= nlist:
            break
    print(
        f"{kind:8s} n={n:>7d} flat {flat_ms:7.2f} ms | ivf nlist={nlist:4d} nprobe={ivf.nprobe:4d} "
        f"{ivf_ms:7.2f} ms recall@10={r:.3f} (train+add {train_s:5.1f} s) "
        f"speed-up x{flat_ms / ivf_ms:.1f}",
        flush=True,
    )


def store_bench(n: int, per_source: int, rng: np.random.Generator) -> None:
    """End-to-end `LocalStore` numbers at n records: indexing, flush, rebuild, search latencies."""
    import shutil
    import tempfile
    from pathlib import Path

    from omnivec.stores import LocalStore

    root = Path(tempfile.mkdtemp(prefix="omnivec-bench-"))
    xb, _ = make_data("spectrum", n, 1, rng)
    # chunk texts: 60 tokens from a Zipf-distributed vocabulary of 30k words, like code/prose
    vocab = np.array([f"w{i}" for i in range(30_000)])
    zipf = 1 / np.arange(1, len(vocab) + 1) ** 1.05
    zipf /= zipf.sum()
    texts = [" ".join(vocab[row]) for row in rng.choice(len(vocab), (n, 60), p=zipf)]
    t0 = time.perf_counter()
    w = LocalStore(root, writer=True, flush_interval=None)
    w.ensure_collection("text", model="bench", fingerprint="b", dim=DIM, recipe={"dim": DIM})
    for s in range(n // per_source):
        write_source(w, s, per_source, xb, texts)
    print(f"store n={n}: {n // per_source} replace_source calls in {time.perf_counter() - t0:.1f} s")
    timed("flush (build + write dense index)", w.flush)
    timed(f"sources() ({n // per_source} files)", w.sources, repeat=5)
    timed(
        f"replace_source(1 file, {per_source} records)",
        lambda: write_source(w, 0, per_source, xb[::-1], texts),
    )
    w.close()
    dense_file = next((root / "dense").glob("*.faiss"))
    r = LocalStore(root, writer=False)
    timed("reader: load dense file + first search", lambda: r.dense_search("text", xb[0], 10))
    r.close()
    dense_file.rename(dense_file.with_suffix(".away"))
    r = LocalStore(root, writer=False)
    timed("reader: rebuild (flat) from SQLite + first search", lambda: r.dense_search("text", xb[0], 10))
    r.close()
    dense_file.with_suffix(".away").rename(dense_file)
    queries = [" ".join(vocab[rng.choice(len(vocab), 3, p=zipf)]) for _ in range(50)]
    # content words: Zipf ranks >= 100 (df < ~7%), what a code search query mostly holds
    content = zipf[100:] / zipf[100:].sum()
    specific = [" ".join(vocab[100 + rng.choice(len(content), 3, p=content)]) for _ in range(50)]
    search_bench(LocalStore(root, writer=False), xb[rng.integers(0, n, 50)], queries, specific)
    shutil.rmtree(root)


def write_source(store, s: int, per_source: int, xb: np.ndarray, texts: list[str]) -> None:
    from omnivec.stores import Record, SourceState

    src = f"pkg{s % 20}/mod{s}.py"
    recs = []
    for i in range(s * per_source, (s + 1) * per_source):
        fields = {"path": src, "kind": "rare" if i % 1000 == 0 else "code", "language": "python"}
        recs.append(Record(f"{src}#{i}", src, xb[i], texts[i], fields))
    store.replace_source("text", SourceState(src, f"h{s}", 1, 1, per_source, "indexed"), recs)


def search_bench(r, vectors: np.ndarray, queries: list[str], specific: list[str]) -> None:
    """Dense (unfiltered, filtered) and keyword latencies, on the index the writer left."""
    from omnivec.stores import Filter

    r.dense_search("text", vectors[0], 1)  # load the index
    print(f"  (dense index: {r.stats()['collections']['text']['kind']})")
    vec = iter(np.concatenate([vectors] * 4))
    timed("dense search k=10, no filter", lambda: r.dense_search("text", next(vec), 10), repeat=50)
    for label, flt in (
        ("0.1% (kind)", Filter(kinds=("rare",))),
        ("5% (path glob)", Filter(path_glob="pkg7/*")),
    ):
        timed(
            f"dense k=10, filter {label}", lambda f=flt: r.dense_search("text", next(vec), 10, f), repeat=20
        )
    for label, texts in (
        ("3 Zipf words, cold", queries),
        ("3 Zipf words, warm", queries),
        ("3 content words", specific),
    ):
        kw = iter(texts)  # warm: term frequencies cached by the first pass
        timed(f"keyword k=10 ({label})", lambda it=kw: r.keyword_search("text", next(it), 10), repeat=50)
    r.close()


def timed(label: str, fn, repeat: int = 1) -> None:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    print(f"  {label:55s} p50 {np.median(times) * 1000:9.2f} ms  max {max(times) * 1000:9.2f} ms", flush=True)


def main() -> None:
    import faiss

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", nargs="?", choices=("crossover", "store"), default="crossover")
    ap.add_argument("--sizes", default="10000,20000,50000,100000,200000")
    ap.add_argument("--data", choices=("uniform", "spectrum", "both"), default="both")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--per-source", type=int, default=10, help="store mode: records per source file")
    args = ap.parse_args()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.mode == "store":
        for n in sizes:
            store_bench(n, args.per_source, rng)
        return
    kinds = ("spectrum", "uniform") if args.data == "both" else (args.data,)
    for kind in kinds:
        for n in sizes:
            bench(kind, n, args.queries, rng)


if __name__ == "__main__":
    main()
