"""Process-wide runtime setup (threads, OpenMP waiting, logging) for commands and servers.

The library never calls this: only an entry point that owns the process (the CLI, a server)
decides how many threads it uses and how it logs.
"""

from __future__ import annotations

import logging
import os
import sys

from omnivec.errors import InputError


def setup_runtime(threads: int | None = None, verbose: bool = False) -> None:
    """Threads and logging are process-wide, so only the CLI (never the library) sets them.

    Only environment variables are set here: importing torch costs seconds, and commands that
    never run a model (status, keyword search) should not pay for it. torch reads
    OMP_NUM_THREADS when it is first imported.
    """
    from omnivec.config import default_threads

    check_threads(threads)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    n = threads or default_threads()
    os.environ["OMP_NUM_THREADS"] = str(n) if threads else os.environ.get("OMP_NUM_THREADS", str(n))
    # OpenMP threads that spin while waiting turn a busy 2-core machine into a 40x slowdown for
    # small batches (measured: a one-query encode went from 27 ms to 990 ms); passive waiting
    # costs little in bulk work. See docs/benchmarks.md.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # also silences transformers' bars
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "torch" in sys.modules:  # already imported (e.g. by a benchmark): apply directly
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def check_threads(threads: int | None) -> None:
    """A thread count must be a whole number above 0: OpenMP reads any other OMP_NUM_THREADS as
    junk, prints its own complaint and carries on with its default (or torch refuses 0 late)."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(
            received=f"--threads {threads}",
            expected="a whole number of threads, 1 or more",
            fix="pass e.g. --threads 4, or leave --threads out for one per core",
        )
