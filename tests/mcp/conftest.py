from __future__ import annotations

from pathlib import Path

import pytest

from tests.index.conftest import make_repo

#: like parse_config_file in pkg/stack.py (lines 18-21), in another file: what find_related finds
SETTINGS_SOURCE = '''def load_settings_file(path):
    """Read a configuration file into a dict of settings."""
    with open(path) as fh:
        return dict(line.split("=", 1) for line in fh)
'''


def make_agent_repo(root: Path) -> Path:
    make_repo(root)
    (root / "tools").mkdir()
    (root / "tools" / "settings.py").write_text(SETTINGS_SOURCE)
    return root


@pytest.fixture
def agent_repo(tmp_path: Path) -> Path:
    return make_agent_repo(tmp_path / "repo")


@pytest.fixture
def indexed(agent_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from omnivec.api import Index

    monkeypatch.setenv("OMNIVEC_CACHE", str(tmp_path / "cache"))
    idx = Index.create(agent_repo, text_model="omnivec/fake", image_model=None, screenshot_model=None)
    idx.update()
    yield idx
    idx.close()
