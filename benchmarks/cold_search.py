"""Time from command to first result: whole `omnivec search` processes on the demo store.

Builds the `make demo` store once per backend (not timed: `omnivec index demo-data`), then runs
`omnivec search QUERY --store S -k 5` as a fresh process per query (interpreter start, imports,
store open, model load where the mode needs one, the search, printing), for `--mode keyword` and
the default hybrid, queries from `python -m omnivec.demo queries` in turn, modes alternating.
Prints the median and p90 wall time of each and the issue's targets (keyword <= 1.0 s, hybrid
<= 1.5 s). A bare `python -c pass` is timed the same way as the floor no command can go under.

Stores (`--backends`): `default` is what `make demo` builds (no `OMNIVEC_BACKEND`: the default
`auto`, fp32 ONNX for the bundled MiniLM); `torch`, `onnx`, `onnx-int8`, `auto` set
`OMNIVEC_BACKEND` for the index run; `torch-cached-onnx` is a copy of the torch store and its cache
plus the fp32 export built there (not timed), so its searches take the cold path for torch stores.
ONNX backends load on the cold path (`omnivec.encoders.onnx_cold`: no torch, no transformers)
once the index run has cached the export and transformers' tokenizer. `hybrid-via-transformers`
times the load path before the cold one in the same run: the saved tokenizer is removed before
each such process, so it loads through transformers (and saves it again for the next cold run).

    python benchmarks/cold_search.py [--backends default torch] [--runs 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine

TARGETS = {"keyword": 1.0, "hybrid": 1.5}


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


TORCH_CACHED_ONNX = "torch-cached-onnx"
WARM = "from omnivec.encoders.registry import load_encoder; load_encoder(backend='onnx').encode(['warm'])"


def store_env(work: Path, backend: str, threads: int) -> dict[str, str]:
    cache = Path(tempfile.mkdtemp(prefix=f"cache-{backend}-", dir=work))
    env = {**os.environ, "OMNIVEC_CACHE": str(cache), "OMP_NUM_THREADS": str(threads)}
    env.pop("OMNIVEC_BACKEND", None)
    if backend not in ("default", TORCH_CACHED_ONNX):
        env["OMNIVEC_BACKEND"] = backend
    elif backend == TORCH_CACHED_ONNX:
        env["OMNIVEC_BACKEND"] = "torch"
    return env


def build_store(
    demo: Path, work: Path, backend: str, threads: int, built: dict[str, tuple[Path, dict[str, str]]]
) -> tuple[Path, dict[str, str]]:
    env = store_env(work, backend, threads)
    store = work / f"store-{backend}"
    if backend == TORCH_CACHED_ONNX:
        if "torch" in built:  # the same torch store, in a cache of its own
            shutil.copytree(built["torch"][0], store)
            shutil.copytree(built["torch"][1]["OMNIVEC_CACHE"], env["OMNIVEC_CACHE"], dirs_exist_ok=True)
        else:
            index_store(demo, store, "torch", env, threads)
        for _, other in built.values():  # an fp32 export another store's run built: the same files
            exports = Path(other["OMNIVEC_CACHE"]) / "onnx"
            if exports.is_dir() and other.get("OMNIVEC_BACKEND") in (None, "auto", "onnx"):
                shutil.copytree(exports, Path(env["OMNIVEC_CACHE"]) / "onnx", dirs_exist_ok=True)
                break
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", WARM], env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"  {backend}: fp32 export built in {time.perf_counter() - start:.1f}s (not counted)")
        return store, env
    index_store(demo, store, backend, env, threads)
    return store, env


def index_store(demo: Path, store: Path, backend: str, env: dict[str, str], threads: int) -> None:
    cmd = [
        sys.executable,
        "-m",
        "omnivec",
        "index",
        str(demo),
        "--store",
        str(store),
        "--threads",
        str(threads),
    ]
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"  {backend}: demo store built in {time.perf_counter() - start:.1f}s (not counted)")


def text_backend(status_json: str) -> str:
    """The backend the store's text collection was built on, from `omnivec status --json`."""
    for c in json.loads(status_json)["collections"]:
        if c["name"] == "text":
            return str((c["recipe"].get("options") or {}).get("backend", "torch"))
    return "none"


def summary(name: str, times: list[float]) -> str:
    p90 = statistics.quantiles(times, n=10)[-1] if len(times) >= 2 else times[0]
    target = TARGETS.get(name.rsplit(maxsplit=1)[-1])
    verdict = (
        ""
        if target is None
        else f"  target <= {target:.1f}s: {'met' if statistics.median(times) <= target else 'missed'}"
    )
    return f"{name:<24} median {statistics.median(times):6.3f}s  p90 {p90:6.3f}s  n={len(times)}{verdict}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", nargs="+", default=["default", "torch"])
    ap.add_argument("--runs", type=int, default=10, help="processes per backend and mode")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="omnivec-cold-search-"))
    demo = work / "demo-data"
    subprocess.run([sys.executable, "-m", "omnivec.demo", str(demo)], check=True, stdout=subprocess.DEVNULL)
    queries = subprocess.run(
        [sys.executable, "-m", "omnivec.demo", "queries", "-"], check=True, capture_output=True, text=True
    ).stdout.split("\n")
    queries = [q for q in queries if q.strip()]
    print(f"{machine()}; {args.threads} threads; load {os.getloadavg()}")
    stores: dict[str, tuple[Path, dict[str, str]]] = {}
    for b in args.backends:
        stores[b] = build_store(demo, work, b, args.threads, stores)
        recipe = subprocess.run(
            [sys.executable, "-m", "omnivec", "status", "--store", str(stores[b][0]), "--json"],
            env=stores[b][1],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        print(f"  {b}: text recipe backend {text_backend(recipe)}")
    floor = [timed([sys.executable, "-c", "pass"], dict(os.environ)) for _ in range(args.runs)]
    results: dict[str, list[float]] = {}
    for i in range(args.runs):
        q = queries[i % len(queries)]
        for backend, (store, env) in stores.items():
            # a torch store's cold path needs the saved tokenizer: without it the query runs torch
            slow = backend not in ("torch", TORCH_CACHED_ONNX)
            modes = ["keyword", "hybrid"] + (["hybrid-via-transformers"] if slow else [])
            for mode in modes:
                cmd = [sys.executable, "-m", "omnivec", "search", q, "--store", str(store), "-k", "5"]
                cmd += ["--mode", mode.split("-")[0]]
                if mode == "hybrid-via-transformers":  # no saved tokenizer: the load path before the cold one
                    shutil.rmtree(Path(env["OMNIVEC_CACHE"]) / "onnx" / "tokenizers", ignore_errors=True)
                results.setdefault(f"{backend} {mode}", []).append(timed(cmd, env))
    print(f"load after {os.getloadavg()}")
    print(summary("python -c pass", floor))
    for name, times in results.items():
        print(summary(name, times))
    for backend in args.backends:
        slow, cold = results.get(f"{backend} hybrid-via-transformers"), results[f"{backend} hybrid"]
        if slow:
            ratio = statistics.median(slow) / statistics.median(cold)
            print(f"{backend}: hybrid via transformers / cold path, medians: {ratio:.2f}x")


if __name__ == "__main__":
    main()
