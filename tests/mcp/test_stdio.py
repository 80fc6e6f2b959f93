"""A real MCP client session from the SDK over stdio against `python -m omnivec mcp REPO`."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")
import anyio
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

import omnivec

SRC = str(Path(omnivec.__file__).resolve().parents[1])
DEADLINE_S = 60.0


def _server(repo: Path, tmp: Path, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "omnivec", "mcp", str(repo), "--model", "omnivec/fake",
              "--image-model", "none", "--screenshot-model", "none", *extra],
        env={"PYTHONPATH": SRC, "OMNIVEC_CACHE": str(tmp / "cache"), "HF_HUB_OFFLINE": "1",
             "TRANSFORMERS_OFFLINE": "1", "OMNIVEC_THREADS": "1"},
        cwd=str(tmp),
    )  # fmt: skip


def _server_pids() -> set[int]:
    """This test process's children running `omnivec mcp` (the SDK does not expose its process)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"omnivec" in cmd and b"mcp" in cmd:
            found.add(int(proc.name))
    return found


def _data(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    text = result.content[0].text
    data = result.structured_content if isinstance(result.structured_content, dict) else json.loads(text)
    assert json.loads(text) == data  # the text block an agent reads is the same JSON
    return data


async def _until(session: ClientSession, tool: str, args: dict[str, Any], ok: Any) -> dict[str, Any]:
    """Call `tool` until `ok(data)` holds; fail at the deadline with the last answer."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        data = _data(await session.call_tool(tool, args))
        if ok(data):
            return data
        if time.monotonic() > deadline:
            pytest.fail(f"{tool} never satisfied the condition within {DEADLINE_S}s; last: {data}")
        await anyio.sleep(0.1)


def test_agent_session_over_stdio(agent_repo: Path, tmp_path: Path) -> None:
    pids: set[int] = set()

    async def run() -> None:
        with (tmp_path / "server.log").open("w") as errlog:
            async with stdio_client(_server(agent_repo, tmp_path), errlog=errlog) as (read, write):
                pids.update(_server_pids())
                async with ClientSession(read, write) as session:
                    await _scenario(session, agent_repo)

    anyio.run(run)
    assert len(pids) == 1, pids
    (pid,) = pids
    alive = Path(f"/proc/{pid}").exists()
    if alive:  # leave nothing behind, then fail
        os.kill(pid, signal.SIGKILL)
    assert not alive, "the server process outlived the client session"
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log, log


async def _scenario(session: ClientSession, repo: Path) -> None:
    init = await session.initialize()
    assert init.server_info.name == "omnivec"

    tools = {t.name: t for t in (await session.list_tools()).tools}
    assert set(tools) == {"search", "find_related", "index", "status"}
    search_schema = tools["search"].input_schema
    assert search_schema["required"] == ["query"]
    assert set(search_schema["properties"]) == {"query", "k", "type", "path_glob", "language"}
    assert "code" in json.dumps(search_schema["properties"]["type"])
    assert tools["find_related"].input_schema["required"] == ["path", "line"]
    assert set(tools["index"].input_schema["properties"]) == {"path"}  # the context is not a parameter
    assert tools["status"].input_schema.get("properties", {}) == {}

    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    report = _data(await session.call_tool("index", {}, progress_callback=on_progress))
    assert report["seen"] == 5 and report["indexed"] + report["unchanged"] == 4
    assert report["skips"] == [{"path": "blob.bin", "reason": "binary file"}]
    assert report["index"]["changed_files"] == 0 and report["index"]["embedded_share"] == 1.0
    assert progress and progress[-1] == (5, 5, "done")

    found = _data(await session.call_tool("search", {"query": "read a configuration file", "k": 3}))
    top = found["results"][0]
    assert {top["path"], top["symbol"]} <= {"pkg/stack.py", "tools/settings.py", "parse_config_file",
                                            "load_settings_file"}  # fmt: skip
    assert set(top) >= {"path", "start_line", "end_line", "symbol", "kind", "score", "snippet",
                        "dense_score", "keyword_score"}  # fmt: skip
    assert -1.0 <= top["dense_score"] <= 1.0
    stale = found["index"]
    assert set(stale) >= {
        "last_update",
        "seconds_since_update",
        "watching",
        "changed_files",
        "embedded_share",
    }
    assert stale["changed_files"] == 0 and stale["summary"].startswith("current")

    related = _data(await session.call_tool("find_related", {"path": "pkg/stack.py", "line": 19}))
    assert related["results"][0]["path"] == "tools/settings.py"
    assert related["results"][0]["symbol"] == "load_settings_file"

    bad = await session.call_tool("find_related", {"path": "pkg/stack.py", "line": 500})
    assert bad.is_error
    message = bad.content[0].text
    assert "line 500 of pkg/stack.py, which no indexed chunk covers" in message
    assert "expected a line inside an indexed chunk" in message and "Fix: " in message
    assert "Traceback" not in message

    status = await _until(session, "status", {}, lambda d: d["index"]["watching"])
    assert status["files"] == 4 and status["root"] == str(repo.resolve())
    assert status["index"]["last_update_by"] == "this server"

    # the watcher keeps the index current: a new function becomes searchable without `index`
    (repo / "pkg" / "geometry.py").write_text("def quaternion_slerp(a, b, t):\n    return a\n")
    await _until(
        session, "search", {"query": "quaternion_slerp", "k": 3},
        lambda d: any(r["symbol"] == "quaternion_slerp" for r in d["results"]),
    )  # fmt: skip
    status = await _until(session, "status", {}, lambda d: d["index"]["changed_files"] == 0)
    assert status["files"] == 5 and status["index"]["updates_since_start"] >= 2
