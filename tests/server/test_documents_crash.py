"""POST /v1/documents survives a killed server: every document is whole or absent, never half.

The server runs under tests/index/fault_runner.py and SIGKILLs itself right after the KILL_AT-th
document's transaction commits, in the middle of a large upsert (one transaction per document):
the kill lands at the same point on a fast or a loaded machine, and the test waits for the
process to end, not for a clock.
"""

from __future__ import annotations

import contextlib
import threading

import httpx

from omnivec.api import Index
from omnivec.index.documents import is_document_source
from tests.server.conftest import child_env, start_server

N = 1500
KILL_AT = 500  # the fault point fires after this many committed documents
DEADLINE_S = 300.0


def _docs() -> list[dict]:
    # one short chunk each, and distinct words, so each document is one record found by its words
    return [{"id": f"kb/{i}", "text": f"entry {i} word{i}x about topic{i % 7}"} for i in range(N)]


def _written(store) -> set[str]:
    """Document ids committed so far, read through a read-only handle (as a second process would)."""
    with Index.open(store) as ro:
        return {s.removeprefix("doc:") for s in ro.store.sources() if is_document_source(s)}


def _text_count(store) -> int:
    with Index.open(store) as ro:
        return sum(c.count for c in ro.store.collections() if c.name == "text")


def _post_in_background(url: str, body: dict) -> threading.Thread:
    def post() -> None:
        # the server is killed under it: that is the point
        with contextlib.suppress(httpx.TransportError):
            httpx.post(url + "/v1/documents", json=body, timeout=DEADLINE_S)

    t = threading.Thread(target=post, daemon=True)
    t.start()
    return t


def test_a_killed_documents_request_leaves_whole_documents(tmp_path):
    store = tmp_path / "kb"
    args = ["--store", str(store), "--writable", "--model", "omnivec/fake"]
    docs = _docs()
    faulty = child_env(OMNIVEC_FAULT=f"after-commit:{KILL_AT}")
    srv = start_server(args, tmp_path / "first.log", env=faulty, module="tests.index.fault_runner")
    try:
        sender = _post_in_background(srv.url, {"upsert": docs})
        srv.proc.wait(timeout=DEADLINE_S)  # the server kills itself mid-write
    finally:
        srv.stop()
    sender.join(timeout=60)

    written = _written(store)
    assert 0 < len(written) < N, f"{len(written)} of {N} written: the kill did not land mid-request"
    assert len(written) == KILL_AT
    assert _text_count(store) == len(written)  # one record per committed document, no strays

    srv = start_server(args, tmp_path / "second.log")  # the crashed store opens for writing again
    try:
        with srv.client() as c:
            again = c.post("/v1/documents", json={"upsert": docs}, timeout=DEADLINE_S).json()
            assert set(again["unchanged"]) == written  # committed ones are whole: nothing to redo
            assert set(again["upserted"]) == {d["id"] for d in docs} - written
            some = sorted(written)[:3] + sorted(set(again["upserted"]))[:3]
            for doc_id in some:
                i = doc_id.split("/")[1]
                hits = c.post("/v1/search", json={"text": f"word{i}x", "k": 1, "mode": "keyword"}).json()[
                    "hits"
                ]
                assert [h["path"] for h in hits] == [f"doc:{doc_id}"], (doc_id, hits)
    finally:
        srv.stop()
    assert _text_count(store) == N
