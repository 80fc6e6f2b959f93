"""Environment for subprocesses started by tests: they run these sources, not an installed copy."""

from __future__ import annotations

import os
from pathlib import Path

import omnivec

REPO = Path(__file__).resolve().parents[1]


def subprocess_env(**extra: str) -> dict[str, str]:
    """os.environ (so OMNIVEC_CACHE and the offline flags carry over) with PYTHONPATH naming the
    `omnivec` this test process imported and the repository root (for `python -m tests....`)."""
    src = str(Path(omnivec.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}
