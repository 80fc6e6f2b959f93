"""The embedded store vs Milvus (Lite, and a standalone server if given) through the normal path.

    python benchmarks/milvus_compare.py quality [--limit-docs N] [--queries Q] [--standalone auto|milvus://H:P]
        [--backends milvus-lite,milvus-standalone] [--modes dense,keyword,hybrid]
    python benchmarks/milvus_compare.py throughput [--n 100000] [--standalone auto|milvus://H:P]
    python benchmarks/milvus_compare.py ray [--files 200] [--model NAME]

`--standalone auto` starts a Milvus 2.3.5 standalone server from the `milvus` PyPI package on
127.0.0.1 for the run (tests/scale/milvus_standalone.py) and stops it by PID afterwards.

quality: code-docstring-dev documents become files, indexed with `Index.create(...).update()` into
each store. One embedding cache is shared, so the first store embeds and the others get the very
same vectors. Every query runs in dense, keyword and hybrid mode (one hit per file); per mode:
nDCG@10 per backend and the share of queries whose top-10 files equal the embedded store's; the
issue's targets (>= 99 % equal top-10s, nDCG@10 equal to 3 decimals) are checked at the end.
throughput: N random 384-d unit vectors written 1,000 per source, then 200 dense searches.
ray: the same files indexed in-process and with `RayEngine` (local cluster), no cache.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVALSETS, evaluate, machine, read_jsonl, read_qrels

REPO = Path(__file__).resolve().parents[1]


def quality(args: argparse.Namespace, work: Path) -> None:
    from omnivec.api import Index
    from omnivec.search.query import Query

    ds = EVALSETS / "code-docstring-dev"
    corpus, queries = read_jsonl(ds / "corpus.jsonl"), read_jsonl(ds / "queries.jsonl")[: args.queries]
    qrels = {q: r for q, r in read_qrels(ds / "qrels/test.tsv").items() if q in {x["_id"] for x in queries}}
    relevant = {d for rels in qrels.values() for d in rels}
    corpus = [c for c in corpus if c["_id"] in relevant] + [c for c in corpus if c["_id"] not in relevant]
    corpus = corpus[: max(args.limit_docs, len(relevant))]
    src = work / "corpus"
    src.mkdir(parents=True, exist_ok=True)
    for doc in corpus:
        (src / f"{doc['_id']}.py").write_text(doc["text"])
    stores = {"embedded": str(work / "local"), "milvus-lite": f"milvus-lite://{work}/lite.db?name=bench"}
    if args.standalone:
        stores["milvus-standalone"] = f"{args.standalone}/bench{os.getpid()}"
    stores = {k: v for k, v in stores.items() if k == "embedded" or k in args.backends.split(",")}
    tops: dict[str, dict[str, dict[str, list[str]]]] = {}
    ndcg: dict[tuple[str, str], float] = {}
    for name, location in stores.items():
        t = time.perf_counter()
        with Index.create(
            src, location, text_model=args.model, image_model=None, screenshot_model=None
        ) as idx:
            report = idx.update()
            print(f"{name}: {report.indexed} files / {report.chunks} chunks in {time.perf_counter() - t:.1f}s "
                  f"{report.as_dict()['seconds']}", flush=True)  # fmt: skip
            searcher = idx.searcher()
            tops[name] = {}
            for mode in args.modes.split(","):
                t = time.perf_counter()
                run = {q["_id"]: [Path(h.path or "").stem for h in searcher.search(
                    Query(text=q["text"], k=10, mode=mode, group_by_file=True))] for q in queries}  # fmt: skip
                ms = 1000 * (time.perf_counter() - t) / len(queries)
                tops[name][mode] = run
                scored = {q: {d: 1.0 / (i + 1) for i, d in enumerate(ds_)} for q, ds_ in run.items()}
                same = np.mean([run[q] == tops["embedded"][mode][q] for q in run])
                metrics = evaluate(scored, qrels)
                ndcg[name, mode] = metrics["nDCG@10"]
                print(f"  {mode:8s} {metrics} ({ms:.1f} ms/query); top-10 equal to embedded: "
                      f"{100 * same:.1f} %", flush=True)  # fmt: skip
    _verdict(tops, ndcg)


def _verdict(tops: dict[str, dict[str, dict[str, list[str]]]], ndcg: dict[tuple[str, str], float]) -> None:
    """The issue's targets per backend and mode: top-10 equal to the embedded store's for >= 99 %
    of queries, nDCG@10 equal to 3 decimals."""
    for name, runs in tops.items():
        if name == "embedded":
            continue
        for mode, run in runs.items():
            same = 100 * np.mean([run[q] == tops["embedded"][mode][q] for q in run])
            d = abs(ndcg[name, mode] - ndcg["embedded", mode])
            ok = same >= 99 and round(ndcg[name, mode], 3) == round(ndcg["embedded", mode], 3)
            print(f"target {name:17s} {mode:8s} top-10 equal {same:5.1f} % (>= 99), nDCG@10 diff {d:.4f} "
                  f"-> {'met' if ok else 'MISSED'}", flush=True)  # fmt: skip


def throughput(args: argparse.Namespace, work: Path) -> None:
    from omnivec.stores import Record, SourceState
    from omnivec.stores.uri import open_store

    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((args.n, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    queries = vecs[rng.choice(args.n, 200, replace=False)] + 0.05
    stores = {"embedded": str(work / "tp-local"), "milvus-lite": f"milvus-lite://{work}/tp.db?name=tp"}
    if args.standalone:
        stores["milvus-standalone"] = f"{args.standalone}/tp{os.getpid()}"
    stores = {k: v for k, v in stores.items() if k == "embedded" or k in args.backends.split(",")}
    for name, location in stores.items():
        store = open_store(location, writer=True, flush_interval=None)
        store.ensure_collection("text", model="bench", fingerprint="b", dim=384, recipe={})
        t = time.perf_counter()
        for s in range(0, args.n, 1000):
            src = f"src/f{s}.py"
            recs = [Record(f"{src}#{i}", src, vecs[s + i], f"chunk {s + i} token{(s + i) % 97}", {"path": src})
                    for i in range(min(1000, args.n - s))]  # fmt: skip
            store.replace_source_all(SourceState(src, "h", 1, 1, 0, "indexed"), {"text": recs})
        store.flush()
        insert = time.perf_counter() - t
        t = time.perf_counter()
        for q in queries:
            store.dense_search("text", q, 10)
        search = time.perf_counter() - t
        print(f"{name}: insert {args.n / insert:,.0f} vectors/s; dense {200 / search:,.1f} q/s", flush=True)
        # every record holds "chunk": the scan path reads all of them back per query, so keyword
        # queries stop after 200 or after --kw-seconds, whichever comes first
        t, done = time.perf_counter(), 0
        while done < 200 and (done == 0 or time.perf_counter() - t < args.kw_seconds):
            store.keyword_search("text", f"token{done % 97} chunk", 10)
            done += 1
        kw = time.perf_counter() - t
        print(f"{name}: keyword {done / kw:,.2f} q/s ({done} queries)", flush=True)
        store.close()


def ray(args: argparse.Namespace, work: Path) -> None:
    from omnivec.api import Index
    from omnivec.index.ray_engine import RayEngine

    corpus = read_jsonl(EVALSETS / "code-docstring-dev" / "corpus.jsonl")[: args.files]
    src = work / "ray-corpus"
    src.mkdir(parents=True, exist_ok=True)
    for doc in corpus:
        (src / f"{doc['_id']}.py").write_text(doc["text"])
    for engine_name in ("local", "ray"):
        t = time.perf_counter()
        engine = RayEngine() if engine_name == "ray" else None
        started = time.perf_counter() - t
        with Index.create(src, work / f"ray-{engine_name}", text_model=args.model, image_model=None,
                          screenshot_model=None) as idx:  # fmt: skip
            report = idx.update(use_cache=False, engine=engine)
        total = time.perf_counter() - t
        if engine is not None:
            engine.close()
        print(f"{engine_name}: {report.chunks} chunks, embed {report.seconds['embed']:.1f}s, total {total:.1f}s "
              f"(cluster start {started:.1f}s)", flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("quality", "throughput", "ray"))
    ap.add_argument("--limit-docs", type=int, default=3000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--model", default=None)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--standalone", default=None, help="milvus://HOST:PORT of a running server, or auto")
    ap.add_argument("--workdir", default=None)
    ap.add_argument(
        "--backends",
        default="milvus-lite,milvus-standalone",
        help="quality, throughput: which Milvus backends to compare with the embedded store",
    )
    ap.add_argument("--modes", default="dense,keyword,hybrid", help="quality: search modes to compare")
    ap.add_argument("--kw-seconds", type=float, default=120.0, help="throughput: keyword query time budget")  # fmt: skip
    args = ap.parse_args()
    from omnivec.runtime import setup_runtime

    setup_runtime()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="omnivec-milvus-bench-"))
    print(machine(), f"load average {os.getloadavg()[0]:.1f}", flush=True)
    with _standalone(args.standalone, work) as address:
        args.standalone = address
        {"quality": quality, "throughput": throughput, "ray": ray}[args.what](args, work)
    print(f"load average at the end {os.getloadavg()[0]:.1f}", flush=True)


@contextlib.contextmanager
def _standalone(spec: str | None, work: Path):  # type: ignore[no-untyped-def]
    """The `--standalone` address: as given, or (`auto`) a server started here for the run."""
    if spec != "auto":
        yield spec
        return
    sys.path.insert(0, str(REPO))
    from tests.scale.milvus_standalone import MilvusStandalone

    t = time.perf_counter()
    with MilvusStandalone(work / "milvus-standalone") as server:
        print(
            f"milvus standalone up on 127.0.0.1:{server.port} in {time.perf_counter() - t:.0f}s", flush=True
        )
        yield f"milvus://127.0.0.1:{server.port}"


if __name__ == "__main__":
    main()
