"""Session-wide test setup: always offline, tiny models built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see omnivec.runtime.setup_runtime
os.environ.setdefault("OMNIVEC_CACHE", str(Path(os.environ.get("TMPDIR", "/tmp")) / "omnivec-test-cache"))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


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
