"""The agent session (tools as plain calls), the server in-process, and the command's guards."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnivec.agent.session import AgentOptions, AgentSession
from omnivec.api import Index
from omnivec.errors import InputError, MissingExtraError, StoreError

FAKE = {"text_model": "omnivec/fake", "image_model": None, "screenshot_model": None}


@pytest.fixture
def session(agent_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OMNIVEC_CACHE", str(tmp_path / "cache"))
    s = AgentSession.open(agent_repo, **FAKE, options=AgentOptions(watch=False, snippet_lines=2))
    s.start()
    yield s
    s.close()


def test_tools_as_plain_calls(session, agent_repo):
    report = session.index()
    assert report["indexed"] == 4 and report["root"] == str(agent_repo.resolve())
    found = session.search("Stack push pop", k=3, type="code", path_glob="pkg/*", language="python")
    assert {h["path"] for h in found["results"]} == {"pkg/stack.py"}
    hit = next(h for h in found["results"] if h["symbol"] == "Stack")
    assert (hit["path"], hit["symbol"], hit["start_line"]) == ("pkg/stack.py", "Stack", 4)
    assert hit["snippet"].count("\n") == 1 and hit["snippet_trimmed"].endswith("read lines 6-15 for the rest")
    assert found["index"]["watching"] is False and found["index"]["changed_files"] == 0
    assert found["keyword_engine"] == "omnivec-bm25" and "keyword_engine" not in hit  # once, not per hit
    # the cosine and BM25 behind the fused score: "Stack" and "push" are words of this chunk
    assert -1.0 <= hit["dense_score"] <= 1.0 and hit["keyword_score"] > 0
    assert hit["dense_score"] == round(hit["dense_score"], 3)
    related = session.find_related(str(agent_repo / "pkg" / "stack.py"), 19, k=1)
    assert related["from"] == {"path": "pkg/stack.py", "line": 19}
    assert related["results"][0]["symbol"] == "load_settings_file"
    assert related["results"][0]["keyword_score"] is None  # no words: similarity of vectors only
    assert 0 < related["results"][0]["dense_score"] <= 1.0
    status = session.status()
    assert status["files"] == 4 and status["read_only"] is False
    assert "recipe" not in status["collections"][0]


def test_without_a_watcher_an_edit_is_reported_until_index_runs(session, agent_repo):
    session.index()
    (agent_repo / "pkg" / "geometry.py").write_text("def quaternion_slerp(a, b, t):\n    return a\n")
    stale = session.search("quaternion_slerp", k=1)["index"]
    assert stale["changed_files"] == 1 and stale["changed"]["new"]["examples"] == ["pkg/geometry.py"]
    assert "call index to refresh" in stale["summary"]
    assert session.index()["indexed"] == 1
    assert session.search("quaternion_slerp", k=1)["results"][0]["symbol"] == "quaternion_slerp"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.search("x", k=0), "k = 0; expected a number of results from 1 to 50"),
        (lambda s: s.search("x", type="video"), "type 'video'"),
        (lambda s: s.search("x", language="klingon"), "language 'klingon'"),
        (lambda s: s.index("/"), "outside the folder this server indexes"),
        (lambda s: s.index("does/not/exist"), "path 'does/not/exist', which does not exist"),
        (lambda s: s.index("pkg/stack.py"), "path 'pkg/stack.py', a file; expected"),
    ],
)
def test_bad_arguments_are_input_errors(session, call, message):
    with pytest.raises(InputError, match="Fix: ") as info:
        call(session)
    assert message in str(info.value)


def test_a_second_server_gets_the_index_read_only(agent_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("OMNIVEC_CACHE", str(tmp_path / "cache"))
    with Index.create(agent_repo, **FAKE) as writer:
        writer.update()
        second = AgentSession.open(agent_repo).start()  # models come from the store
        try:
            assert "(another open writer) is writing" in second.status()["read_only"]  # here: this process
            assert second.search("Stack", k=1)["results"][0]["path"] == "pkg/stack.py"
            with pytest.raises(StoreError, match="read-only"):
                second.index()
        finally:
            second.close()


def test_server_maps_domain_errors_to_tool_errors(session):
    import anyio
    from mcp.client.client import Client

    from omnivec.agent.mcp_server import build_server

    async def run() -> None:
        async with Client(build_server(session)) as client:
            bad = await client.call_tool("find_related", {"path": "nowhere.py", "line": 1})
            assert bad.is_error
            text = bad.content[0].text
            assert "path 'nowhere.py', which the index does not hold; expected the path" in text
            assert "Fix: " in text and "Traceback" not in text
            ok = await client.call_tool("status", {})
            assert not ok.is_error and ok.structured_content["files"] == 0
            # arguments the schema refuses read like omnivec's errors, not a pydantic dump
            for args, words in (
                ({}, "query: missing; expected this required field"),
                ({"query": "x", "type": "bogus"}, 'type: received "bogus"; expected input should be'),
                ({"query": "x", "path_glb": "*.py"}, "search arguments 'path_glb'; expected only the"),
            ):
                bad = await client.call_tool("search", args)
                assert bad.is_error, args
                text = bad.content[0].text
                assert words in text, text
                assert "pydantic" not in text and "Traceback" not in text

    anyio.run(run)


def test_missing_sdk_names_the_extra(monkeypatch):
    import omnivec.cli.index
    import omnivec.cli.mcp  # noqa: F401  (two commands: typer keeps the subcommand name)
    from omnivec.cli.app import app

    monkeypatch.setitem(sys.modules, "mcp", None)  # import mcp now raises ImportError
    result = CliRunner().invoke(app, ["mcp", "."])
    assert isinstance(result.exception, MissingExtraError)
    assert "pip install 'omnivec[mcp]'" in str(result.exception)
