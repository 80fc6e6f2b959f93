"""Re-index of an unchanged tree of 10k files (target: under 2 s).

Builds 10,000 small source files, indexes them once with the fake encoder (the model is not what
is measured), then times the second, no-op pass: walk + stat + one `sources()` query.

    python benchmarks/reindex_noop.py [--files 10000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from omnivec.api import Index

    work = Path(tempfile.mkdtemp(prefix="omnivec-noop-"))
    tree = work / "tree"
    for i in range(args.files):
        d = tree / f"pkg{i // 100:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"mod{i:05d}.py").write_text(f"def function_{i}(x):\n    return x + {i}\n")
    with Index.create(
        tree, work / "store", text_model="omnivec/fake", image_model=None, screenshot_model=None
    ) as idx:
        t = time.perf_counter()
        first = idx.update()
        print(f"{machine()}; first pass {first.indexed} files in {time.perf_counter() - t:.1f}s")
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            r = idx.update()
            times.append(time.perf_counter() - t)
            assert r.unchanged == args.files and r.indexed == 0
        times.sort()
        print(
            f"unchanged re-index of {args.files} files: median {times[len(times) // 2]:.3f}s "
            f"(min {times[0]:.3f}s, max {times[-1]:.3f}s; target < 2 s)"
        )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
