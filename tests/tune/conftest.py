"""A tiny synthetic repository: documented functions, long functions, and a folder left out."""

from __future__ import annotations

from pathlib import Path

import pytest

DOCUMENTED = '''

def {name}(items, limit=10):
    """{doc}

    More details that are not part of the summary.
    """
    total = 0
    for item in items:
        total += item
    return total
'''

LONG = """

def {name}(rows):
    # header comment, not a code line
    out = []
    for row in rows:
        key = row.get("key")
        value = row.get("value")

        if key is None:
            continue
        out.append((key, value))
    out.sort()
    seen = set()
    result = []
    for key, value in out:
        if key not in seen:
            result.append((value, "{name}"))
    return result
"""


def write_repo(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "other").mkdir()
    docs = [
        "Add every number of the sequence together and return the sum.",
        "Count the words of a document while ignoring punctuation marks.",
        "Parse a configuration file and return its sections as a dict.",
        "Retry a network request with exponential backoff until it succeeds.",
    ]
    (root / "src" / "docs.py").write_text(
        "".join(DOCUMENTED.format(name=f"doc_fn_{i}", doc=d) for i, d in enumerate(docs))
    )
    (root / "src" / "long.py").write_text("".join(LONG.format(name=f"long_fn_{i}") for i in range(4)))
    (root / "other" / "elsewhere.py").write_text(
        DOCUMENTED.format(name="outside_fn", doc="This function lives outside the chosen folders entirely.")
        + LONG.format(name="outside_long")
    )
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")
