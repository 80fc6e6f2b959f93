"""The library functions behind the MCP tools: snippets, related code, staleness."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from omnivec.errors import InputError
from omnivec.index.freshness import UpdateTracker, pending_changes, staleness
from omnivec.search.related import chunk_at, file_records, glob_literal
from omnivec.search.snippet import trim_snippet

# --- snippets ---------------------------------------------------------------------------


def test_short_snippet_is_untouched():
    s = trim_snippet("def f():\n    return 1", start_line=5)
    assert (s.text, s.trimmed, s.note, s.total_lines, s.shown_lines) == (
        "def f():\n    return 1", False, None, 2, 2,
    )  # fmt: skip


def test_snippet_trimmed_by_lines_names_the_rest():
    text = "\n".join(f"line {i}" for i in range(40))
    s = trim_snippet(text, start_line=100, max_lines=5)
    assert s.text.splitlines() == [f"line {i}" for i in range(5)]
    assert s.trimmed and s.shown_lines == 5 and s.total_lines == 40
    assert s.note == "trimmed: lines 100-104 of 100-139 shown; read lines 105-139 for the rest"


def test_snippet_trimmed_by_characters_keeps_whole_lines():
    text = "\n".join("x" * 30 for _ in range(10))
    s = trim_snippet(text, max_lines=100, max_chars=100)
    assert s.shown_lines == 3 and all(len(line) == 30 for line in s.text.splitlines())
    assert len(s.text) <= 100 and s.note == "trimmed: 3 of 10 lines shown"


def test_one_long_line_is_cut_and_said_so():
    s = trim_snippet("y" * 5000, start_line=1, max_chars=50)
    assert s.text == "y" * 50 and s.trimmed
    assert s.note == "trimmed: lines 1-1 of 1-1 shown (the last one cut); read lines 1-1 for the rest"


def test_empty_snippet_and_bad_limits():
    assert trim_snippet(None).text == "" and not trim_snippet("").trimmed
    with pytest.raises(InputError, match="max_lines=0"):
        trim_snippet("x", max_lines=0)


# --- related ----------------------------------------------------------------------------


def test_glob_literal_matches_only_the_path():
    assert glob_literal("a/b[1]*?.py") == "a/b[[]1][*][?].py"


def test_file_records_are_all_of_one_file_with_vectors(indexed):
    recs = file_records(indexed.store, "pkg/stack.py")
    assert {r.fields["symbol"] for r in recs} >= {"Stack", "parse_config_file"}
    assert all(r.fields["path"] == "pkg/stack.py" and r.vector.shape == (32,) for r in recs)
    assert file_records(indexed.store, "pkg/nothing.py") == []


def test_chunk_at_picks_the_chunk_containing_the_line(indexed):
    rec = chunk_at(indexed.store, "pkg/stack.py", 19)
    assert rec.fields["symbol"] == "parse_config_file"
    assert rec.fields["start_line"] <= 19 <= rec.fields["end_line"]
    assert chunk_at(indexed.store, "pkg/stack.py", 10).fields["symbol"] == "Stack"


def test_find_related_finds_the_similar_function_elsewhere(indexed):
    hits = indexed.find_related("pkg/stack.py", 19, k=3)
    assert hits[0].path == "tools/settings.py" and hits[0].symbol == "load_settings_file"
    assert all(h.path != "pkg/stack.py" for h in hits)
    assert len(hits) == 3 and hits[0].snippet and hits[0].score > hits[-1].score


def test_find_related_same_file_never_returns_the_chunk_itself(indexed):
    hits = indexed.find_related("pkg/stack.py", 19, k=10, same_file=True)
    assert "parse_config_file" not in {h.symbol for h in hits}
    assert "Stack" in {h.symbol for h in hits}


def test_find_related_accepts_an_absolute_path(indexed, agent_repo):
    hits = indexed.find_related(str(agent_repo / "pkg" / "stack.py"), 19, k=1)
    assert hits[0].symbol == "load_settings_file"


@pytest.mark.parametrize(
    ("path", "line", "message"),
    [
        ("pkg/stack.py", 500, "no indexed chunk covers; expected a line inside an indexed chunk"),
        ("pkg/stak.py", 3, "which the index does not hold; close indexed paths: pkg/stack.py"),
        ("pkg/stack.py", 0, "line 0; expected a line number from 1"),
        ("blob.bin", 1, "which the index does not hold"),
    ],
)
def test_find_related_errors_say_what_and_how(indexed, path, line, message):
    with pytest.raises(InputError, match="Fix: ") as info:
        indexed.find_related(path, line)
    assert message in str(info.value)


# --- staleness --------------------------------------------------------------------------


def _touch(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()  # a distinct mtime even on file systems with coarse timestamps
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_pending_changes_counts_new_modified_and_deleted(indexed, agent_repo):
    assert pending_changes(indexed).changed == 0
    _touch(agent_repo / "web.js", "function other() {}\n")
    (agent_repo / "README.md").unlink()
    (agent_repo / "pkg" / "new.py").write_text("def fresh(): pass\n")
    p = pending_changes(indexed)
    assert (p.new, p.modified, p.deleted) == (["pkg/new.py"], ["web.js"], ["README.md"])
    assert p.current == 2 and p.embedded_share == 0.5  # stack.py and settings.py of 4 on disk


def test_pending_changes_gives_up_past_its_budget(indexed):
    assert pending_changes(indexed, budget_s=60.0) is not None
    # 300 entries: the budget is checked every 256 walked entries
    root = Path(indexed.config.root)
    for i in range(300):
        (root / f"f{i}.txt").write_text("x")
    assert pending_changes(indexed, budget_s=0.0) is None


def test_staleness_reports_updates_changes_and_the_watcher(indexed, agent_repo):
    tracker = UpdateTracker()
    s = staleness(indexed, tracker)
    assert s["last_update_by"] == "index on disk" and s["changed_files"] == 0
    assert s["summary"].startswith("current") and not s["watching"] and not s["updating"]
    _touch(agent_repo / "web.js", "function other() {}\n")
    s = staleness(indexed, tracker)  # immediately: never cached
    assert s["changed_files"] == 1 and s["changed"] == {"modified": {"count": 1, "examples": ["web.js"]}}
    assert "call index to refresh" in s["summary"] and s["embedded_share"] < 1
    tracker.run(indexed)
    s = staleness(indexed, tracker)
    assert s["last_update_by"] == "this server" and s["updates_since_start"] == 1
    assert s["changed_files"] == 0 and s["embedded_share"] == 1.0


def test_files_the_last_update_skipped_are_not_new(indexed, agent_repo):
    tracker = UpdateTracker()
    (agent_repo / "bad.py").write_bytes(b"x = '\xc3\x28'\n")  # not UTF-8: walked, then skipped
    (agent_repo / "web.js").write_bytes(b"x = '\xc3\x28'\n")  # fails too, keeping its old version
    report = tracker.run(indexed)
    skipped = {p for p, _ in report.skipped}
    s = staleness(indexed, tracker)
    assert {"bad.py", "web.js"} <= skipped, report.skipped
    assert s["changed_files"] == 0, (skipped, s)
