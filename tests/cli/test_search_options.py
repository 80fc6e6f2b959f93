"""`omnivec search --image` is checked before anything loads, `--path` takes paths as people type
them (a folder, `./x`, an absolute path, a path from the current folder), and a path that
matches nothing says how paths are matched (fake model, real index, subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from omnivec.cli.search import bm25_label, root_relative_glob, score_label
from omnivec.types import Hit
from tests.index.conftest import make_repo

FAKE = ["--model", "omnivec/fake", "--image-model", "none", "--screenshot-model", "none"]
MATRIX = "class Matrix {\n  int rows;\n  int cols;\n}\n"


def omnivec(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnivec", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def fails(*args: str, cwd: Path | None = None) -> str:
    proc = omnivec(*args, cwd=cwd)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr


@pytest.fixture
def indexed(tmp_path: Path) -> Path:
    """A repo with its index in the default place (`repo/.omnivec`), found from any subfolder."""
    repo = make_repo(tmp_path / "repo")
    (repo / "java").mkdir()
    (repo / "java" / "Matrix.java").write_text(MATRIX)
    proc = omnivec("index", str(repo), *FAKE)
    assert proc.returncode == 0, proc.stderr
    return repo


def paths(*args: str, cwd: Path) -> list[str]:
    proc = omnivec("search", "matrix rows", "--json", *args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return sorted({h["path"] for h in json.loads(proc.stdout)})


# --- --image ---------------------------------------------------------------------------------


def test_bad_query_images_are_refused_before_the_store_opens(tmp_path):
    missing_store = str(tmp_path / "no-store")
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.png").write_text("not a png at all\n")
    (tmp_path / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # a png header, then nothing
    for image, says in [
        ("nonexist.png", "--image nonexist.png, which does not exist"),
        ("folder", "--image folder, a folder, not an image file"),
        ("notes.png", "--image notes.png, which is not an image Pillow can decode"),
        ("cut.png", "--image cut.png, which is not an image Pillow can decode"),
    ]:
        err = fails("search", "--image", image, "--store", missing_store, cwd=tmp_path)
        # the image is refused first: the missing store (let alone a model) is never reached
        assert says in err and "holds no omnivec index" not in err, err
        assert "exclude it" not in err and "re-export" not in err  # indexing advice, not a search's


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_image_says_so(tmp_path):
    img = tmp_path / "locked.png"
    _png(img)
    img.chmod(0)
    assert "cannot be read" in fails("search", "--image", str(img), "--store", str(tmp_path / "s"))


def test_a_real_image_still_searches(indexed, tmp_path):
    img = tmp_path / "q.png"
    _png(img)
    proc = omnivec("search", "--image", str(img), "--mode", "dense", "--json", cwd=indexed)
    assert proc.returncode == 0, proc.stderr
    assert isinstance(json.loads(proc.stdout), list)


def _png(path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 10, 10)).save(path)


# --- --path ----------------------------------------------------------------------------------


def test_path_forms_people_type_find_the_file(indexed):
    java = ["java/Matrix.java"]
    assert paths("--path", "java/*", cwd=indexed) == java  # the store's own form still works
    assert paths("--path", "java", cwd=indexed) == java  # a folder name
    assert paths("--path", "java/", cwd=indexed) == java
    assert paths("--path", "./java/*", cwd=indexed) == java
    assert paths("--path", "./java", cwd=indexed) == java
    assert paths("--path", str(indexed / "java"), cwd=indexed) == java  # absolute
    assert paths("--path", str(indexed / "java" / "*.java"), cwd=indexed) == java
    assert paths("--path", "pkg", cwd=indexed) == ["pkg/stack.py"]


def test_paths_from_a_subfolder_are_read_from_there(indexed):
    here = indexed / "java"
    assert paths("--path", "Matrix.java", cwd=here) == ["java/Matrix.java"]
    assert paths("--path", ".", cwd=here) == ["java/Matrix.java"]
    assert paths("--path", "../pkg", cwd=here) == ["pkg/stack.py"]
    # a path that names something under the root (and nothing here) keeps its root reading
    assert paths("--path", "pkg/*", cwd=here) == ["pkg/stack.py"]


def test_a_path_matching_nothing_says_how_paths_are_matched(indexed, tmp_path):
    proc = omnivec("search", "matrix", "--path", "src/Matrix.java", cwd=indexed)
    assert proc.returncode == 0 and "no results" in proc.stdout
    assert f"paths are matched relative to the index root {indexed}" in proc.stderr
    assert "e.g. --path 'java/Matrix.java'" in proc.stderr  # an indexed path with that name
    outside = omnivec("search", "matrix", "--json", "--path", str(tmp_path / "elsewhere" / "*"), cwd=indexed)
    assert json.loads(outside.stdout) == [] and "relative to the index root" in outside.stderr


def test_no_hint_when_the_path_is_fine_and_the_words_are_not(indexed):
    proc = omnivec("search", "zzzunmatched", "--mode", "keyword", "--path", "java", cwd=indexed)
    assert proc.returncode == 0 and "no results" in proc.stdout
    assert "index root" not in proc.stderr


@pytest.mark.parametrize(
    ("pattern", "cwd", "expected"),
    [
        ("java", "", "java/*"),  # a folder on disk
        ("lib", "", "lib/*"),  # no extension, not on disk: taken for a folder
        ("Makefile", "", "Makefile"),  # a file on disk without an extension stays a file
        ("java/*.java", "", "java/*.java"),
        ("././java/M*", "", "java/M*"),
        ("/ROOT/java", "", "java/*"),
        ("/ROOT", "", "*"),
        ("/elsewhere/x.py", "", "/elsewhere/x.py"),  # outside the root: kept as typed
        ("Matrix.java", "java", "java/Matrix.java"),
        ("*.java", "java", "*.java"),  # no literal part: the root's reading (a superset)
        ("../README.md", "java", "README.md"),
        ("../../x", "java", "../../x"),
    ],
)
def test_root_relative_glob(tmp_path, pattern, cwd, expected):
    root = tmp_path / "root"
    (root / "java").mkdir(parents=True)
    (root / "java" / "Matrix.java").write_text(MATRIX)
    (root / "Makefile").write_text("all:\n")
    got = root_relative_glob(pattern.replace("/ROOT", str(root)), root, root / cwd)
    assert got == expected


# --- scores ----------------------------------------------------------------------------------


def test_a_positive_bm25_never_reads_as_zero():
    assert [bm25_label(s) for s in (0.0, 0.04, 0.0012, 0.5, 0.96, 1.04, 11.44)] == [
        "0.0", "0.04", "0.0012", "0.5", "0.96", "1.0", "11.4",
    ]  # fmt: skip
    assert (
        score_label(Hit(id="a", score=1.0, dense_score=0.62, keyword_score=0.042)) == "cos 0.62  bm25 0.042"
    )


def test_small_real_bm25_scores_print_above_zero(tmp_path):
    # a word in every file has an idf near 0: its BM25 scores are small but real matches
    repo = tmp_path / "repo"
    repo.mkdir()
    for i in range(30):
        (repo / f"m{i}.py").write_text(f"def common_{i}():\n    return 'common'\n")
    assert omnivec("index", str(repo), *FAKE).returncode == 0
    proc = omnivec("search", "common", "--mode", "keyword", "-k", "3", cwd=repo)
    labels = [line.split("bm25 ")[1] for line in proc.stdout.splitlines() if "bm25 " in line]
    assert len(labels) == 3 and all(float(x) > 0 for x in labels), proc.stdout
