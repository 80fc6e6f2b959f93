"""Settings read from the environment: the only place outside the CLI that does so."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def default_model() -> str:
    """The text/code model used when none is named (`OMNIVEC_MODEL` overrides the bundled MiniLM)."""
    return os.environ.get("OMNIVEC_MODEL", DEFAULT_TEXT_MODEL)


def default_backend() -> str:
    """How text models run when no backend is named: `OMNIVEC_BACKEND` (auto, torch, onnx,
    onnx-int8), else auto (`omnivec.encoders.backend_choice`). Families that run on torch only
    ignore it."""
    return os.environ.get("OMNIVEC_BACKEND") or "auto"


def cache_dir() -> Path:
    """Where the shared embedding cache lives (`OMNIVEC_CACHE` overrides)."""
    base = os.environ.get("OMNIVEC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "omnivec"
    )
    return Path(base)


def model_threads() -> int:
    """Intra-op threads a model runs with: `OMP_NUM_THREADS` (what torch reads at import, and what
    `omnivec.runtime.setup_runtime` sets), else `default_threads()`. ONNX Runtime sessions use it
    too, so both backends run with the same thread count."""
    env = os.environ.get("OMP_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return default_threads()


def default_threads() -> int:
    """Torch intra-op threads: `OMNIVEC_THREADS`, else one per available core.

    More threads than cores makes torch's spin-waiting threads fight each other; on a busy
    2-core machine that costs several times the throughput.
    """
    env = os.environ.get("OMNIVEC_THREADS")
    if env:
        if not env.strip().isdigit() or int(env) < 1:
            from omnivec.errors import InputError

            raise InputError(f"OMNIVEC_THREADS={env!r}", "a whole number of threads, 1 or more",
                             "set e.g. OMNIVEC_THREADS=4, or unset it for one per core")  # fmt: skip
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def evalsets_override() -> Path | None:
    """`OMNIVEC_EVALSETS`, when set: the evaluation-sets folder (`omnivec.evaluate.devsets.evalsets_dir`
    falls back to the checkout's `../shared/evalsets`)."""
    env = os.environ.get("OMNIVEC_EVALSETS")
    return Path(env).expanduser() if env else None


def milvus_token() -> str | None:
    """Credentials for a Milvus server (`OMNIVEC_MILVUS_TOKEN`: `user:password` or an API key).

    Only ever read here, never taken from a command line or a store URI, and never logged.
    """
    return os.environ.get("OMNIVEC_MILVUS_TOKEN") or None


def private_folder(folder: Path) -> None:
    """Create `folder` (and missing parents) with mode 0700; an existing folder is left as it is:
    the user's (or one another process just made), whose mode is theirs to choose."""
    try:
        folder.mkdir(parents=True, mode=0o700)
        folder.chmod(0o700)  # mkdir's mode is cut by the umask; this is not
    except FileExistsError:
        pass
