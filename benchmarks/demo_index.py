"""`make demo` indexing time per backend: whole `omnivec index` processes on the demo folder.

Lays out the demo folder (`python -m omnivec.demo`), then for each backend runs `omnivec index
demo-data --store <fresh>` as its own process (imports, model loading, parse, embed, store: what
a user waits for) with a fresh cache folder, so no vector comes from an earlier run. An ONNX
backend's export (a one-off per model and version) is built in that cache before the clock starts,
and its time printed. Backends alternate over `--rounds`; prints each wall time and the ratio of
each to the first backend's median.

`default` is the library's default backend (`auto`: fp32 ONNX for the bundled MiniLM), `torch`
the default before it.

    python benchmarks/demo_index.py [--backends torch default] [--rounds 1] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine


def run_index(demo: Path, work: Path, backend: str, threads: int) -> tuple[float, dict]:
    cache = Path(tempfile.mkdtemp(prefix=f"cache-{backend}-", dir=work))
    env = {**os.environ, "OMNIVEC_CACHE": str(cache), "OMNIVEC_BACKEND": backend}
    if backend == "default":  # what `make demo` runs: no OMNIVEC_BACKEND, the library's default (auto)
        del env["OMNIVEC_BACKEND"]
    if backend != "torch":  # the export, once per model and version: not part of an index run
        start = time.perf_counter()
        warm = "from omnivec.encoders.registry import load_encoder; load_encoder().encode(['warm up'])"
        subprocess.run([sys.executable, "-c", warm], env=env, check=True)
        print(f"  {backend}: export built in {time.perf_counter() - start:.1f}s (not counted)")
    store = Path(tempfile.mkdtemp(prefix=f"store-{backend}-", dir=work))
    cmd = [sys.executable, "-m", "omnivec", "index", str(demo), "--store", str(store)]
    cmd += ["--threads", str(threads), "--json"]
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", nargs="+", default=["torch", "default"])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="omnivec-demo-index-"))
    demo = work / "demo-data"
    subprocess.run([sys.executable, "-m", "omnivec.demo", str(demo)], check=True)
    print(f"{machine()}; demo folder {demo}; {args.threads} threads; load {os.getloadavg()}")
    times: dict[str, list[float]] = {b: [] for b in args.backends}
    for _ in range(args.rounds):
        for backend in args.backends:
            wall, report = run_index(demo, work, backend, args.threads)
            times[backend].append(wall)
            secs = report.get("seconds", {})
            print(f"  {backend:<10} wall {wall:7.2f}s  chunks {report.get('chunks')}  "
                  f"embedded {report.get('embedded')}  seconds {secs}", flush=True)  # fmt: skip
    base = statistics.median(times[args.backends[0]])
    for backend, ts in times.items():
        med = statistics.median(ts)
        print(f"{backend:<10} median {med:7.2f}s  speed-up vs {args.backends[0]}: {base / med:.2f}x")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
