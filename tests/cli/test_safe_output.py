"""What the CLI prints cannot be turned against a terminal, shows code verbatim, and every bad
option or input is refused with exit 2 before work starts (subprocesses, through a pipe)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FAKE = ["--model", "omnivec/fake", "--image-model", "none", "--screenshot-model", "none"]


def omnivec(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnivec", *args], capture_output=True, text=True, timeout=120, cwd=cwd,
        errors="surrogateescape",
    )  # fmt: skip


def hostile_repo(root: Path) -> Path:
    root.mkdir()
    (root / "esc.py").write_text(
        "# \x1b]0;PWNED\x07 \x1b[2J \u202e title\n"
        "def sliced(seq, a, b, c):\n"
        "    return seq[a:b:c]  # root:x:0:0 " + "x" * 150 + "\n"
    )
    (root / "new\nline.py").write_text("def newline_name():\n    return 2\n")
    with open(os.fsencode(root) + b"/caf\xe9.py", "w") as fh:
        fh.write("def latin_name():\n    return 3\n")
    return root


def test_escapes_never_reach_the_terminal_and_code_is_verbatim(tmp_path):
    repo = hostile_repo(tmp_path / "repo")
    store = str(tmp_path / "s")
    indexed = omnivec("index", str(repo), "--store", store, *FAKE)
    assert indexed.returncode == 0 and "\x1b" not in indexed.stdout, indexed.stderr
    out = omnivec("search", "sliced seq", "--store", store, "-k", "3")
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout and "\u202e" not in out.stdout
    assert "\\x1b]0;PWNED\\x07" in out.stdout and "\\u202e" in out.stdout
    # no emoji shortcodes, no hard wrap of a 190-character line
    assert "return seq[a:b:c]  # root:x:0:0 " + "x" * 150 in out.stdout
    names = omnivec("search", "newline_name latin_name", "--store", store, "-k", "5")
    assert "new\\x0aline.py:1-2" in names.stdout and "caf\\xe9.py" in names.stdout
    hits = json.loads(omnivec("search", "latin_name", "--store", store, "--json").stdout)
    assert hits[0]["path"] == "caf\\xe9.py"  # valid UTF-8 in JSON: no lone surrogate


def test_a_rerun_says_nothing_changed_and_counts_model_loading(tmp_path):
    repo = hostile_repo(tmp_path / "repo")
    store = str(tmp_path / "s")
    omnivec("index", str(repo), "--store", store, *FAKE)
    again = omnivec("index", str(repo), "--store", store, *FAKE)
    assert again.stdout.startswith("nothing changed: 3 files up to date")
    assert "load " in again.stdout.splitlines()[1]


def test_bad_inputs_exit_2_before_work(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "in.txt").write_text("hello\n")
    cases = [
        (("index", str(tmp_path), "--store", str(tmp_path / "file"), *FAKE), "which is a file"),
        (("index", str(tmp_path), "--store", str(tmp_path / "s"), "--max-file-mb", "-1", *FAKE), "limit of"),
        (("index", str(tmp_path / "missing"), *FAKE), "which does not exist"),
        (("embed", "/dev/zero"), "is not a regular file"),
        (("embed", str(tmp_path / "in.txt"), "--out", "/nodir/x.npy"), "whose folder does not exist"),
    ]
    for args, says in cases:
        proc = omnivec(*args)
        assert proc.returncode == 2 and says in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "s").exists()


def test_version():
    proc = omnivec("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("omnivec ")
