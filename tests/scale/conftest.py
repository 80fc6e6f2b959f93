"""A small repository for the scale tests: enough files for a few hundred chunks, fake encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

FAKE = ["--model", "omnivec/fake", "--image-model", "none", "--screenshot-model", "none"]


def write_repo(root: Path, files: int = 60, functions: int = 5) -> Path:
    """`files` Python files of `functions` functions each: files * functions code chunks."""
    for f in range(files):
        body = "\n\n".join(
            f'def handler_{f}_{i}(request_{i}):\n    """Handle case {i} of module {f}: parse and retry."""\n'
            f"    return request_{i} * {f + i}\n"
            for i in range(functions)
        )
        path = root / f"pkg{f % 4}" / f"mod_{f}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body + "\n")
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")
