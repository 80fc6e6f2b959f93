"""CPU seconds of progressive indexing's phase one (keyword-searchable, no model) on the dev corpus.

The same folder as `progressive_index.py` (code-docstring-dev written out file by file, the first
`--limit` functions), indexed with `update(embed=False)` into a fresh store; the tokenizer and the
libraries are loaded before the clock, as `progressive_index.py` builds its export first. Prints
the process CPU (user + system, `getrusage`) and wall time of the update: CPU is what to compare
on a shared machine. To compare two versions of omnivec, run this once per source tree
(`PYTHONPATH=<tree>/src`), alternating, on the same `--tree`, which is written on first use.

    python benchmarks/phase_one_cpu.py --tree /tmp/dev-tree-5k --limit 5000 [--profile out.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVALSETS
from progressive_index import write_folder


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", type=Path, required=True, help="the corpus folder (written if missing)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N functions")
    ap.add_argument("--model", default=None, help="text model (default: the bundled MiniLM)")
    ap.add_argument("--profile", type=Path, default=None, help="write a CPU-time cProfile here")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="omnivec-phase-one-"))
    os.environ["OMNIVEC_CACHE"] = str(work / "cache")
    from omnivec.api import Index
    from omnivec.encoders.registry import load_encoder
    from omnivec.runtime import setup_runtime

    setup_runtime(2)
    load_encoder(args.model).token_counts(["warm up"])  # libraries and tokenizer, before the clock
    if not args.tree.exists():
        write_folder(EVALSETS / "code-docstring-dev", args.tree, args.limit)
    idx = Index.create(
        args.tree, work / "store", text_model=args.model, image_model=None, screenshot_model=None
    )
    prof = cProfile.Profile(time.process_time) if args.profile else None
    cpu, wall = cpu_seconds(), time.perf_counter()
    if prof:
        prof.enable()
    with idx:
        report = idx.update(embed=False)
    if prof:
        prof.disable()
        prof.dump_stats(args.profile)
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    print(f"phase one: cpu {cpu:.2f}s, wall {wall:.2f}s; {report.indexed} files, {report.chunks} chunks,"
          f" {report.pending} pending (load {os.getloadavg()[0]:.1f})")  # fmt: skip
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
