"""Indexing throughput on a real tree (part of the Python standard library on this machine).

Prints files/s, chunks/s and the time split into parse / embed / store; the target is that
everything except model time stays under 10% of the total. A second, unchanged pass measures the
incremental no-op cost.

    python benchmarks/index_throughput.py [--packages json email http ...] [--model NAME]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine

DEFAULT_PACKAGES = ["json", "email", "http", "logging", "concurrent", "importlib"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packages", nargs="*", default=DEFAULT_PACKAGES)
    ap.add_argument("--model", default=None)
    ap.add_argument("--no-cache", action="store_true", help="do not reuse cached embeddings")
    args = ap.parse_args()

    from omnivec.api import Index
    from omnivec.runtime import setup_runtime

    setup_runtime()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    work = Path(tempfile.mkdtemp(prefix="omnivec-throughput-"))
    tree = work / "tree"
    for pkg in args.packages:
        shutil.copytree(stdlib / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__", "test*"))
    with Index.create(
        tree, work / "store", text_model=args.model, image_model=None, screenshot_model=None
    ) as idx:
        t = time.perf_counter()
        r = idx.update(use_cache=not args.no_cache)
        wall = time.perf_counter() - t
        s = r.seconds
        other = s["parse"] + s["store"]
        print(f"{machine()}; model {idx.config.text_model}; packages {' '.join(args.packages)}")
        print(
            f"first pass: {r.indexed} files, {r.chunks} chunks, {r.truncated} truncated in {wall:.1f}s: "
            f"{r.indexed / wall:.1f} files/s, {r.chunks / wall:.1f} chunks/s"
        )
        print(
            f"  parse {s['parse']:.2f}s, embed {s['embed']:.2f}s, store {s['store']:.2f}s; "
            f"non-model share {100 * other / (other + s['embed']):.1f}% (target <= 10%)"
        )
        t = time.perf_counter()
        r2 = idx.update()
        print(f"second pass (unchanged): {r2.unchanged} unchanged in {time.perf_counter() - t:.3f}s")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
