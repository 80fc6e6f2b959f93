"""`--threads` takes a whole number of 1 or more; anything else is refused before work starts
(OpenMP would otherwise print its own complaint and carry on)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from omnivec.errors import InputError
from omnivec.runtime import check_threads

FAKE = ["--model", "omnivec/fake", "--image-model", "none", "--screenshot-model", "none"]


def omnivec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnivec", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("threads", ["-3", "0"])
def test_a_thread_count_below_one_is_refused_before_indexing(tmp_path: Path, threads: str) -> None:
    (repo := tmp_path / "repo").mkdir()
    (repo / "a.py").write_text("x = 1\n")
    proc = omnivec("index", str(repo), "--threads", threads, *FAKE)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"--threads {threads}; expected a whole number of threads, 1 or more" in proc.stderr
    assert "libgomp" not in proc.stderr and not (repo / ".omnivec").exists()


def test_one_thread_or_more_is_accepted(tmp_path: Path) -> None:
    (repo := tmp_path / "repo").mkdir()
    (repo / "a.py").write_text("x = 1\n")
    proc = omnivec("index", str(repo), "--threads", "1", *FAKE)
    assert proc.returncode == 0, proc.stderr
    for ok in (None, 1, 64):
        check_threads(ok)
    for bad in (0, -1, True):
        with pytest.raises(InputError, match="1 or more"):
            check_threads(bad)
