from __future__ import annotations

from pathlib import Path

import pytest

PY_SOURCE = '''"""Utilities for stacks."""


class Stack:
    """A last-in first-out container."""

    def __init__(self):
        self.items = []

    def push(self, item):
        """Put an item on top of the stack."""
        self.items.append(item)

    def pop(self):
        return self.items.pop()


def parse_config_file(path):
    """Read a configuration file into a dict."""
    with open(path) as fh:
        return dict(line.split("=", 1) for line in fh)
'''

JS_SOURCE = """function fetchUserProfile(userId) {
  return fetch(`/api/users/${userId}`).then((r) => r.json());
}
"""

MD_SOURCE = """# Guide

Intro text about the project.

## Installation

Run the installer and reboot the machine.

## Usage

Call the tool with a folder of photos.
"""


def make_repo(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "stack.py").write_text(PY_SOURCE)
    (root / "web.js").write_text(JS_SOURCE)
    (root / "README.md").write_text(MD_SOURCE)
    (root / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    (root / ".gitignore").write_text("ignored/\n")
    (root / "ignored").mkdir()
    (root / "ignored" / "secret.py").write_text("def hidden(): pass\n")
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def fake_index(repo: Path, tmp_path: Path):
    from omnivec.api import Index

    idx = Index.create(
        repo, tmp_path / "store", text_model="omnivec/fake", image_model=None, screenshot_model=None
    )
    yield idx
    idx.close()
