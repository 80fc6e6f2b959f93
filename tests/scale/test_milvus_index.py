"""`omnivec index/search/status --store milvus-lite://...` end to end, and a kill between Milvus and
the ledger repaired by the next run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import omnivec.cli.index
import omnivec.cli.search  # noqa: F401
from omnivec.api import Index
from omnivec.cli.app import app
from omnivec.errors import InputError
from tests.procs import subprocess_env
from tests.scale.conftest import FAKE, write_repo
from tests.stores.conftest import HAVE_MILVUS

pytestmark = pytest.mark.skipif(not HAVE_MILVUS, reason="no milvus extra")


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_index_search_status_update_delete(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", files=8, functions=3)
    uri = f"milvus-lite://{tmp_path}/m.db?name=repo"
    first = json.loads(run("index", str(repo), "--store", uri, *FAKE, "--json"))
    assert (first["indexed"], first["chunks"]) == (8, 24)
    hits = json.loads(run("search", "handler_3_1", "--store", uri, "--json", "--mode", "keyword"))
    assert hits[0]["path"] == "pkg3/mod_3.py" and hits[0]["symbol"] == "handler_3_1"
    assert {h["keyword_engine"] for h in hits} == {"omnivec-scan"}  # Lite's default engine
    assert "hybrid search, keyword engine omnivec-scan" in run("search", "handler_3_1", "--store", uri)
    status = json.loads(run("status", "--store", uri, "--json"))
    assert status["store"] == uri and status["files"] == 8
    assert status["stats"]["keyword"] == ["omnivec-scan"] and status["stats"]["backend"] == "milvus-lite"
    assert {c["keyword_engine"] for c in status["collections"]} == {"omnivec-scan"}
    (repo / "pkg0" / "mod_0.py").unlink()
    (repo / "pkg1" / "mod_1.py").write_text("def fresh_name():\n    return 1\n")
    again = json.loads(run("index", str(repo), "--store", uri, *FAKE, "--json"))
    assert (again["indexed"], again["removed"], again["unchanged"]) == (1, 1, 6)
    hits = json.loads(run("search", "fresh name", "--store", uri, "--json"))
    assert hits[0]["path"] == "pkg1/mod_1.py"
    with Index.open(uri) as idx:  # the settings live in Milvus: a reader needs only the URI
        assert idx.config.text_model == "omnivec/fake" and idx.status()["files"] == 7
        assert not any(h.path == "pkg0/mod_0.py" for h in idx.search("handler_0_1", k=20))


def test_credentials_never_travel_in_the_uri(tmp_path: Path) -> None:
    from omnivec.stores.milvus_schema import parse_uri

    for uri in ("milvus://root:secret@127.0.0.1:19530/x", "milvus://127.0.0.1:19530/x?token=abc"):
        with pytest.raises(InputError, match="OMNIVEC_MILVUS_TOKEN"):
            parse_uri(uri)
    assert parse_uri("milvus://h:1/x?index=hnsw").display == "milvus://h:1/x"


def _omnivec(*args: str, module: str = "omnivec") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip


PENDING = """
import json, sys
from omnivec.stores.milvus import MilvusStore
with MilvusStore(sys.argv[1], writer=False) as s:
    print(json.dumps({k: [v.content_hash, v.status] for k, v in s.sources().items()}))
"""


def test_a_kill_between_milvus_and_the_ledger_is_repaired(tmp_path: Path) -> None:
    """Milvus Lite serves one process per file: every step runs in a process of its own."""
    kill_at = 3
    repo = write_repo(tmp_path / "repo", files=6, functions=2)
    uri = f"milvus-lite://{tmp_path}/m.db?name=crash"
    assert _omnivec("index", str(repo), "--store", uri, *FAKE).returncode == 0
    for f in range(6):  # every file changes: each write replaces old records with new ones
        p = repo / f"pkg{f % 4}" / f"mod_{f}.py"
        p.write_text(p.read_text().replace("parse and retry", "parse, retry and log"))
    proc = _omnivec(
        str(kill_at), "index", str(repo), "--store", uri, *FAKE, module="tests.scale.milvus_crash_runner"
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    seen = subprocess.run([sys.executable, "-c", PENDING, uri], env=subprocess_env(), capture_output=True,
                          text=True, timeout=120, check=True)  # fmt: skip
    states = json.loads(seen.stdout)
    pending = [s for s, (_, status) in states.items() if status.startswith("pending")]
    assert len(pending) == 1 and states[pending[0]][0] == ""  # the window: one file pending
    resumed = _omnivec("index", str(repo), "--store", uri, *FAKE, "--json")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert pending[0] in report["changed"] and report["indexed"] == 6 - (kill_at - 1)
    assert "repaired 1 half-written sources" in resumed.stderr
    _assert_same_as_clean(uri, repo, tmp_path / "clean")


def _assert_same_as_clean(uri: str, repo: Path, clean_dir: Path) -> None:
    from tests.scale.test_ray import all_ids

    run("index", str(repo), "--store", str(clean_dir), *FAKE)
    with Index.open(uri) as got, Index.open(clean_dir) as want:
        assert sorted(all_ids(got.store)) == sorted(all_ids(want.store))
        strip = {s: (st.content_hash, st.chunks, st.status) for s, st in want.store.sources().items()}
        assert {s: (st.content_hash, st.chunks, st.status) for s, st in got.store.sources().items()} == strip
