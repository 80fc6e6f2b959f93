"""`walk`: ignore files at every level, built-in ignores, binaries, sizes, symlinks, order, speed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from omnivec.errors import InputError
from omnivec.ingest import SourceFile, walk
from tests.ingest.helpers import found, write


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, ".gitignore", "*.log\n/top_only.txt\n# a comment\n")
    write(root, "src/a.py")
    write(root, "src/debug.log", "log")
    write(root, "src/.gitignore", "!keep.log\n")
    write(root, "src/keep.log", "kept by a nested negation")
    write(root, "top_only.txt", "ignored at the top")
    write(root, "src/top_only.txt", "anchored pattern: kept below")
    write(root, "sub/.gitignore", "generated/\n")
    write(root, "sub/generated/g.py")
    write(root, "sub/b.go", "package b\n")
    write(root, "node_modules/x/index.js")
    write(root, "myenv/pyvenv.cfg", "home = /usr\n")
    write(root, "myenv/lib/site.py")
    write(root, "pkg.egg-info/PKG-INFO", "Name: pkg")
    write(root, "build/out.py")
    write(root, ".git/config", "[core]")
    write(root, "__pycache__/a.cpython-311.pyc", b"\0\0")
    write(root, "package-lock.json", "{}")
    write(root, "README.md", "# Hi\n")
    write(root, "data.bin", b"abc\0def")
    write(root, "mystery.dat", b"abc\0def")
    write(root, "notes.xyz", "plain text of an unknown type")
    write(root, "tools/run", "#!/usr/bin/env python3\nprint(1)\n")
    write(root, "img/logo.png", b"\x89PNG\r\n\x1a\n\0\0binary is fine for images")
    write(root, "big.txt", "y" * 5000)
    return root


def test_ignores_and_kinds(tree: Path) -> None:
    files, skipped = found(tree, max_file_bytes=4000)
    assert sorted(files) == [
        "README.md", "img/logo.png", "notes.xyz", "src/a.py", "src/keep.log", "src/top_only.txt",
        "sub/b.go", "tools/run",
    ]  # fmt: skip
    assert skipped == {
        "big.txt": "larger than 4 KB", "data.bin": "binary file", "mystery.dat": "binary file",
        "package-lock.json": "generated: a lock file",  # reported since issue 13, silent before
    }  # fmt: skip
    assert (files["src/a.py"].kind, files["src/a.py"].language) == ("code", "python")
    assert (files["README.md"].kind, files["README.md"].language) == ("doc", "markdown")
    assert (files["tools/run"].kind, files["tools/run"].language) == ("code", "python")
    assert (files["notes.xyz"].kind, files["notes.xyz"].language) == ("doc", "text")
    assert files["img/logo.png"].kind == "image"
    a = files["src/a.py"]
    assert a.abs_path == tree / "src" / "a.py" and a.size == 6 and a.mtime_ns > 0


def test_order_is_sorted_by_path(tree: Path) -> None:
    paths = [i.path for i in walk(tree)]
    assert paths == sorted(paths)
    write(tree, "a.py")
    write(tree, "a/x.py")
    paths = [i.path for i in walk(tree)]
    assert paths.index("a.py") < paths.index("a/x.py") and paths == sorted(paths)


def test_extra_ignores(tree: Path) -> None:
    files, _ = found(tree, extra_ignores=["*.md", "sub/"])
    assert "README.md" not in files and "sub/b.go" not in files and "src/a.py" in files


def test_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write(root, "src/a.py")
    outside = tmp_path / "outside"
    write(outside, "lib.py")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "src" / "up").symlink_to(root / "src", target_is_directory=True)
    (root / "alias").symlink_to(root / "src", target_is_directory=True)
    (root / "ext1").symlink_to(outside, target_is_directory=True)
    (root / "ext2").symlink_to(outside, target_is_directory=True)
    (root / "dangling.py").symlink_to(root / "missing.py")
    (root / "self.py").symlink_to(root / "self.py")
    (root / "link.py").symlink_to(root / "src" / "a.py")
    files, skipped = found(root, follow_external_links=True)
    assert sorted(files) == ["ext1/lib.py", "link.py", "src/a.py"]
    assert skipped["loop"] == "symlink loop"
    assert skipped["src/up"] == "symlink loop"
    assert skipped["self.py"] == "symlink loop"
    assert skipped["dangling.py"] == "broken symlink"
    assert "inside the tree" in skipped["alias"]
    assert "already walked" in skipped["ext2"]


def test_special_files_are_not_read(tmp_path: Path) -> None:
    write(tmp_path, "ok.py")
    os.mkfifo(tmp_path / "pipe")  # reading it would block forever
    files, skipped = found(tmp_path)
    assert list(files) == ["ok.py"] and skipped == {"pipe": "not a regular file"}


def test_unreadable_file_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "secret.py")
    write(tmp_path, "locked/inner.py")
    write(tmp_path, "ok.py")
    real_access, real_scandir = os.access, os.scandir
    # root reads everything, so permissions are simulated rather than set with chmod
    monkeypatch.setattr(os, "access", lambda p, m: not str(p).endswith("secret.py") and real_access(p, m))

    def scandir(path: str):  # type: ignore[no-untyped-def]
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    files, skipped = found(tmp_path)
    assert list(files) == ["ok.py"]
    assert skipped == {"locked": "permission denied", "secret.py": "permission denied"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files whatever their mode")
def test_chmod_000(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.py")
    path.chmod(0)
    try:
        _, skipped = found(tmp_path)
        assert skipped == {"secret.py": "permission denied"}
    finally:
        path.chmod(0o644)


def test_media_has_its_own_size_limit(tmp_path: Path) -> None:
    write(tmp_path, "scan.pdf", b"%PDF" + b"0" * 5000)
    write(tmp_path, "huge.png", b"0" * 9000)
    files, skipped = found(tmp_path, max_file_bytes=1000, max_media_bytes=8000)
    assert list(files) == ["scan.pdf"] and skipped == {"huge.png": "larger than 8 KB"}


def test_walk_is_fast(tmp_path: Path) -> None:
    for d in range(20):
        folder = tmp_path / f"pkg{d}"
        folder.mkdir()
        for f in range(100):
            (folder / f"mod{f}.py").touch()
    write(tmp_path, ".gitignore", "\n".join(f"*.ext{i}\nbuild{i}/\n" for i in range(25)))
    start = time.perf_counter()
    files, _ = found(tmp_path)
    elapsed = time.perf_counter() - start
    assert len(files) == 2000
    # ~0.04 s on an idle core; the bound leaves room for a loaded CI machine
    assert elapsed < 1.0, f"walking 2000 files took {elapsed:.2f}s"


def test_root_may_be_a_file_and_must_exist(tmp_path: Path) -> None:
    path = write(tmp_path, "one.py")
    (item,) = walk(path)
    assert isinstance(item, SourceFile) and item.path == "one.py" and item.abs_path == path
    with pytest.raises(InputError, match="does not exist"):
        list(walk(tmp_path / "missing"))
