"""Session-wide test setup: always offline, a fresh cache per run, tiny models built once."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see omnivec.runtime.setup_runtime
# the default backend `auto` exports each BERT model to ONNX on first use (MiniLM: tens of seconds):
# the suite runs on torch unless a test asks for a backend (tests/encoders/test_backend_choice.py
# covers `auto` on the tiny model, in a cache of its own)
os.environ["OMNIVEC_BACKEND"] = "torch"
# never a user's cache, never one left by an earlier run: made here (before any test reads it),
# removed when the session ends; subprocesses started by tests inherit it
SESSION_CACHE = Path(tempfile.mkdtemp(prefix="omnivec-test-cache-"))
os.environ["OMNIVEC_CACHE"] = str(SESSION_CACHE)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(SESSION_CACHE, ignore_errors=True)


@pytest.fixture
def cold_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of the test's own, empty at its start, for tests that must not see warm entries."""
    cache = tmp_path / "omnivec-cache"
    cache.mkdir()
    monkeypatch.setenv("OMNIVEC_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny.bert import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def minilm():
    """The bundled offline default model, loaded once."""
    from omnivec.encoders.registry import load_encoder

    return load_encoder("sentence-transformers/all-MiniLM-L6-v2")
