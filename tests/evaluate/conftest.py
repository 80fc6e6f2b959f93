from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from omnivec.evaluate.data import RetrievalData


@pytest.fixture(scope="session")
def evalsets() -> Path:
    """The dev evaluation sets, found the way `omnivec eval` finds them (skipped when absent)."""
    from omnivec.evaluate import evalsets_dir

    folder = evalsets_dir()
    if not folder.is_dir():
        pytest.skip(f"no evaluation sets at {folder}")
    return folder


@pytest.fixture(scope="session")
def fake():
    from omnivec.encoders.registry import load_encoder

    return load_encoder("omnivec/fake")


class StaticRetriever:
    """Returns a fixed run and remembers what it was asked, to test the protocol around retrieval."""

    name = "static"

    def __init__(self, run: dict[str, dict[str, float]]) -> None:
        self.run = run
        self.requests: list[Any] = []
        self.seen: list[RetrievalData] = []

    def retrieve(self, data: RetrievalData, req: Any) -> dict[str, dict[str, float]]:
        self.requests.append(req)
        self.seen.append(data)
        return {q: dict(h) for q, h in self.run.items()}

    def describe(self) -> dict[str, Any]:
        return {"retriever": self.name, "model": "static", "fingerprint": "static", "recipe": {}}
