"""The main job end to end on the fake encoder: index, incremental updates, bad files, search."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from omnivec.api import Index
from omnivec.errors import RecipeMismatchError, StoreError


def _bump(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # mtime granularity on some filesystems


def test_first_index_reports_every_file(fake_index):
    r = fake_index.update()
    assert r.indexed == 3  # stack.py, web.js, README.md
    assert r.chunks >= 6
    skipped = dict(r.skipped)
    assert "blob.bin" in skipped and "binary" in skipped["blob.bin"]
    assert not any(p.startswith("ignored/") for p, _ in r.skipped)
    assert set(r.seconds) == {"load", "parse", "embed", "store"}


def test_search_finds_symbols_by_keyword_and_dense(fake_index):
    fake_index.update()
    hits = fake_index.search("parse config file", k=3)
    assert hits[0].path == "pkg/stack.py" and hits[0].symbol.endswith("parse_config_file")
    assert hits[0].start_line <= 19 <= hits[0].end_line
    for mode in ("dense", "keyword"):
        assert fake_index.search("fetchUserProfile", k=1, mode=mode)[0].path == "web.js"
    docs = fake_index.search("installer reboot", k=1, type="doc")
    assert docs[0].path == "README.md" and "Installation" in docs[0].symbol
    assert all(h.language == "python" for h in fake_index.search("stack", languages=("python",)))
    assert all(h.path.endswith(".js") for h in fake_index.search("user", path_glob="*.js"))


def test_reindex_is_incremental(fake_index, repo):
    fake_index.update()
    again = fake_index.update()
    assert (again.indexed, again.unchanged, again.removed) == (0, 3, 0)
    _bump(repo / "web.js", "function renamedThing() { return 1; }\n")
    (repo / "README.md").unlink()
    r = fake_index.update()
    assert (r.indexed, r.removed) == (1, 1)
    assert fake_index.search("renamedThing", k=1)[0].path == "web.js"
    assert all(h.path != "README.md" for h in fake_index.search("installer reboot", k=10))
    assert not fake_index.search("fetchUserProfile", k=10, mode="keyword")


def test_touched_but_unchanged_file_is_not_reembedded(fake_index, repo):
    fake_index.update()
    p = repo / "web.js"
    _bump(p, p.read_text())
    r = fake_index.update()
    assert (r.indexed, r.unchanged) == (0, 3)


def test_rename_moves_the_hits(fake_index, repo):
    fake_index.update()
    (repo / "web.js").rename(repo / "client.js")
    r = fake_index.update()
    assert (r.indexed, r.removed) == (1, 1)
    assert fake_index.search("fetchUserProfile", k=1)[0].path == "client.js"


def test_bad_file_is_skipped_and_keeps_previous_version(fake_index, repo):
    fake_index.update()
    (repo / "pkg" / "stack.py").write_bytes(b"def ok():\n    return '\xff\xfe'\n")
    (repo / "new.py").write_bytes(b"x = '\xc3\x28'\n")
    r = fake_index.update()
    reasons = dict(r.skipped)
    assert "UTF-8" in reasons["new.py"]
    assert "kept the previously indexed version" in reasons["pkg/stack.py"]
    assert fake_index.search("parse_config_file", k=1, mode="keyword")[0].path == "pkg/stack.py"


def test_store_refuses_other_models(fake_index, repo, tmp_path):
    fake_index.update()
    fake_index.close()
    with pytest.raises(RecipeMismatchError, match="omnivec/fake -> sentence-transformers/all-MiniLM-L6-v2"):
        Index.create(repo, tmp_path / "store", image_model=None, screenshot_model=None)


def test_a_model_that_fails_to_load_pins_nothing(repo, tmp_path):
    from omnivec.errors import OmnivecError

    idx = Index.create(
        repo, tmp_path / "s", text_model="no-such/model", image_model=None, screenshot_model=None
    )
    with idx, pytest.raises(OmnivecError):
        idx.update()
    # the retry with a model that loads is not refused as "another model"
    with Index.create(repo, tmp_path / "s", text_model="omnivec/fake", image_model=None,
                      screenshot_model=None) as idx:  # fmt: skip
        assert idx.update().indexed == 3
    with Index.open(tmp_path / "s") as idx:
        assert idx.config.text_model == "omnivec/fake"


def test_store_folder_is_private_and_git_ignored(fake_index):
    fake_index.update()
    folder = fake_index.store_dir
    assert folder.stat().st_mode & 0o077 == 0, oct(folder.stat().st_mode)
    assert (folder / ".gitignore").read_text().splitlines()[-1] == "*"


def test_a_store_path_that_is_a_file_is_a_clear_error(repo, tmp_path):
    from omnivec.errors import InputError

    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="which is a file"):
        Index.create(repo, tmp_path / "file", text_model="omnivec/fake")
    with pytest.raises(InputError, match="limit of -1000000 bytes"):
        Index.create(repo, tmp_path / "s2", text_model="omnivec/fake", max_file_bytes=-1_000_000)


def test_progress_has_totals_before_the_first_file(repo, tmp_path):
    seen = []
    with Index.create(repo, tmp_path / "s", text_model="omnivec/fake", image_model=None,
                      screenshot_model=None) as idx:  # fmt: skip
        report = idx.update(progress=seen.append)
    phases = [p.phase for p in seen]
    assert phases[0] == "loading models" and phases[-1] == "done"
    first = next(p for p in seen if p.phase == "indexing")
    assert first.files_total == report.seen and first.bytes_total > 0
    last = seen[-1]
    assert last.files_done == report.seen and last.bytes_done == last.bytes_total
    assert last.chunks_done == report.chunks and sorted(report.changed) == [
        "README.md",
        "pkg/stack.py",
        "web.js",
    ]


def test_walk_options_are_kept_with_the_store(repo, tmp_path):
    (repo / ".env").write_text("TOKEN=hunter2\n")
    with Index.create(repo, tmp_path / "s", text_model="omnivec/fake", image_model=None,
                      screenshot_model=None) as idx:  # fmt: skip
        assert ".env" in dict(idx.update().skipped)
    with Index.create(repo, tmp_path / "s", text_model="omnivec/fake", image_model=None,
                      screenshot_model=None, include_secrets=True) as idx:  # fmt: skip
        assert idx.update().indexed == 1
        assert idx.search("TOKEN hunter2", k=1, mode="keyword")[0].path == ".env"
    with Index.open(tmp_path / "s") as idx:
        assert idx.config.include_secrets


def test_second_writer_is_refused_readers_are_not(fake_index, repo, tmp_path):
    fake_index.update()
    with pytest.raises(StoreError, match="writ"):
        Index.create(
            repo, tmp_path / "store", text_model="omnivec/fake", image_model=None, screenshot_model=None
        )
    with Index.open(tmp_path / "store") as reader:
        assert reader.search("Stack push", k=1)[0].path == "pkg/stack.py"


def test_status(fake_index):
    fake_index.update()
    info = fake_index.status()
    assert info["files"] == 3
    (coll,) = info["collections"]
    assert coll["model"] == "omnivec/fake" and coll["dim"] == 32 and coll["chunks"] >= 6
    assert coll["recipe"]["family"] == "fake"


def test_watch_picks_up_changes(fake_index, repo):
    import threading

    from omnivec.index.watch import watch_and_update

    stop, ready = threading.Event(), threading.Event()
    reports, errors = [], []

    def run():
        try:
            for rep in watch_and_update(fake_index, debounce_ms=100, stop=stop, ready=ready):
                reports.append(rep)
                if len(reports) == 2:
                    stop.set()
        except BaseException as exc:  # surfaced below instead of dying silently in the thread
            errors.append(exc)
            ready.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        assert ready.wait(timeout=60), "the watcher never said it was ready"
        assert not errors, errors
        assert len(reports) == 1 and reports[0].indexed == 3  # the initial update
        (repo / "added.py").write_text("def brand_new_function():\n    return 42\n")
        t.join(timeout=60)
    finally:
        stop.set()
    assert not errors, errors
    assert not t.is_alive(), "no update after the change"
    assert len(reports) == 2 and reports[1].indexed == 1


def test_fusion_weights_are_honoured(fake_index):
    fake_index.update()
    dense = [h.id for h in fake_index.search("stack items push", k=5, mode="dense")]
    weighted = [
        h.id for h in fake_index.search("stack items push", k=5, weights={"dense": 1.0, "keyword": 0.0})
    ]
    assert weighted == dense
