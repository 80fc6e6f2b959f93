"""Paths are checked before anything is created: a store of another folder, a store folder that
is (or holds) the indexed folder, a missing PATH or a file are refused with exit 2 by `index`,
`watch` and the MCP session alike; `--move-root` re-points a store on purpose."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import omnivec.cli.index
import omnivec.cli.search
from omnivec.api import Index
from omnivec.cli.app import app
from omnivec.errors import InputError

FAKE = ["--model", "omnivec/fake", "--image-model", "none", "--screenshot-model", "none"]


def omnivec(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnivec", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def refused(proc: subprocess.CompletedProcess[str], *says: str) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for text in says:
        assert text in proc.stderr, proc.stderr
    return proc.stderr


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def indexed_paths(store: Path) -> set[str]:
    with Index.open(store) as idx:
        return set(idx.store.sources())


@pytest.fixture
def two_roots(tmp_path: Path) -> tuple[Path, Path]:
    (ra := tmp_path / "rA").mkdir()
    (rb := tmp_path / "rB").mkdir()
    (ra / "a.py").write_text("def alpha_only(): pass\n")
    (rb / "b.py").write_text("def beta_only(): pass\n")
    return ra, rb


def test_a_store_of_another_folder_is_refused_unless_moved_on_purpose(two_roots):
    ra, rb = two_roots
    store = ra / ".omnivec"
    run("index", str(ra), *FAKE)
    before = (store / "omnivec.sqlite").read_bytes()
    err = refused(omnivec("index", str(rb), "--store", str(store), *FAKE), "--move-root")
    assert str(ra) in err and str(rb) in err
    assert (store / "omnivec.sqlite").read_bytes() == before and indexed_paths(store) == {"a.py"}
    # watch opens the store the same way: refused before it watches anything
    refused(omnivec("watch", str(rb), "--store", str(store), "--model", "omnivec/fake"), "--move-root")
    assert indexed_paths(store) == {"a.py"}

    report = json.loads(run("index", str(rb), "--store", str(store), *FAKE, "--move-root", "--json"))
    assert report["indexed"] == 1 and report["removed"] == 1
    assert indexed_paths(store) == {"b.py"}
    with Index.open(store) as idx:
        assert idx.config.root == str(rb.resolve())


def test_the_mcp_session_refuses_another_folders_store_too(two_roots):
    from omnivec.agent.session import AgentOptions, AgentSession

    ra, rb = two_roots
    run("index", str(ra), *FAKE)
    with pytest.raises(InputError, match="--move-root"):  # not opened read-only in its place
        AgentSession.open(rb, str(ra / ".omnivec"), text_model="omnivec/fake", image_model=None,
                          screenshot_model=None, options=AgentOptions(watch=False))  # fmt: skip
    assert indexed_paths(ra / ".omnivec") == {"a.py"}


def test_a_folder_moved_with_its_store_keeps_its_index(two_roots, tmp_path):
    ra, _ = two_roots
    run("index", str(ra), *FAKE)
    moved = tmp_path / "moved"
    shutil.move(ra, moved)  # a rename keeps the files' mtimes: nothing to re-read
    report = json.loads(run("index", str(moved), *FAKE, "--json"))
    assert report["unchanged"] == 1 and report["indexed"] == 0 and report["removed"] == 0
    with Index.open(moved / ".omnivec") as idx:
        assert idx.config.root == str(moved.resolve())


def test_a_store_folder_that_is_or_holds_the_root_is_refused(tmp_path):
    root = tmp_path / "m5"
    (root / "sub").mkdir(parents=True)
    (root / "a.py").write_text("x = 1\n")
    (root / "sub" / "b.py").write_text("y = 2\n")
    refused(omnivec("index", str(root), "--store", str(root), *FAKE), "which is the folder being indexed")
    refused(omnivec("index", str(root / "sub"), "--store", str(root), *FAKE), "holds the indexed folder")
    refused(omnivec("watch", str(root), "--store", str(root)), "which is the folder being indexed")
    assert sorted(p.name for p in root.rglob("*")) == ["a.py", "b.py", "sub"]  # nothing written
    # a store inside the root (the default place) is fine
    inner = tmp_path / "m5" / "inner-store"
    assert json.loads(run("index", str(root), "--store", str(inner), *FAKE, "--json"))["indexed"] == 2
    # the library's update refuses it too, before any model loads (the model named does not exist)
    (lib := tmp_path / "lib").mkdir()
    with Index.create(lib, lib, text_model="omnivec/no-such-model", image_model=None,
                      screenshot_model=None) as idx, pytest.raises(InputError, match="folder being indexed"):  # fmt: skip
        idx.update()


def test_a_missing_path_or_a_file_is_named_as_such_by_index_and_watch(tmp_path):
    (cwd := tmp_path / "cwd").mkdir()
    (tmp_path / "one.py").write_text("x = 1\n")
    for cmd in ("index", "watch"):
        refused(omnivec(cmd, str(tmp_path / "nope"), cwd=cwd), "nope, which does not exist")
        refused(
            omnivec(cmd, str(tmp_path / "one.py"), cwd=cwd), "one.py, a file, not a folder", str(tmp_path)
        )
    assert list(cwd.iterdir()) == []  # no store left behind in the current folder


def test_an_unreachable_milvus_server_is_one_clear_line(tmp_path):
    pytest.importorskip("pymilvus")
    # port 1 on loopback: the connection is refused at once, no server is needed
    err = refused(omnivec("search", "foo", "--store", "milvus://127.0.0.1:1/x", cwd=tmp_path))
    assert "Milvus server at http://127.0.0.1:1 could not be reached" in err and "milvus-lite://" in err


def test_the_library_refuses_a_missing_root_before_creating_a_store(tmp_path: Path) -> None:
    from omnivec.api import Index
    from omnivec.errors import InputError

    with pytest.raises(InputError, match="which does not exist"):
        Index.create(tmp_path / "nope", tmp_path / "s", text_model="omnivec/fake")
    assert not (tmp_path / "s").exists()
