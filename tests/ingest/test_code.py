"""Tree-sitter chunking: real snippets per language -> expected symbols and line ranges."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.ingest.helpers import chunks_of, symbols

SNIPPETS = Path(__file__).parent / "snippets"

# file -> (symbol, start_line, end_line) that must all be present
EXPECTED: dict[str, list[tuple[str | None, int, int]]] = {
    "stack.py": [(None, 1, 5), ("Stack", 8, 29), ("Stack.pop", 16, 22), ("Stack.Inner", 24, 29),
                 ("Stack.Inner.a", 25, 29), ("main", 32, 34), (None, 37, 38)],
    "widget.js": [(None, 1, 1), ("helper", 3, 5), ("Widget", 7, 10), ("module.exports.run", 12, 14)],
    "stack.ts": [("Stack", 2, 9), ("Stack.push", 5, 8), ("add", 10, 10), ("NS.f", 11, 11), ("Props", 12, 12)],
    "App.tsx": [("App", 3, 5), ("Button", 7, 7)],
    "stack.go": [(None, 1, 3), ("Stack", 5, 8), ("Stack.Push", 10, 13), ("main", 15, 17)],
    "shapes.rs": [("shapes.Circle", 4, 5), ("shapes.Circle", 7, 12), ("shapes.Circle.area", 8, 11),
                  ("Wrapper", 15, 19)],
    "Stack.java": [(None, 1, 3), ("Stack", 5, 22), ("Stack.push", 12, 19)],
    "point.c": [("point", 3, 6), ("node", 8, 8), ("make", 10, 12)],
    "stack.cpp": [("ns.Stack", 3, 13), ("ns.Stack.push", 6, 9), ("ns.Stack.size", 15, 15)],
    "shapes.rb": [("Shapes", 3, 15), ("Shapes.Stack", 4, 14)],
    "Stack.php": [("App.Models.Stack", 6, 15), ("App.Models.Stack.push", 10, 14), ("App.Models.helper", 17, 17)],
    "Stack.cs": [("App.Core.Stack", 5, 17), ("App.Core.Stack.Push", 10, 14)],
    "greet.sh": [(None, 1, 2), ("greet", 4, 7), ("main", 9, 11), (None, 13, 13)],
    "schema.sql": [("users", 1, 5), ("idx_users_name", 7, 7), (None, 9, 10), ("add", 12, 12)],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_snippet_symbols_and_lines(name: str) -> None:
    chunks = chunks_of(name, (SNIPPETS / name).read_bytes())
    got = symbols(chunks)
    for want in EXPECTED[name]:
        assert want in got, f"{want} not in {got}"
    assert all(c.kind == "code" and c.path == name for c in chunks)
    assert not any("fallback" in c.extra for c in chunks)


def test_every_language_has_a_snippet() -> None:
    from omnivec.ingest import classify
    from omnivec.ingest.languages import LANGUAGES

    covered = {(classify(name) or ("", ""))[1] for name in EXPECTED}
    assert covered == set(LANGUAGES)


def test_header_names_path_and_enclosing_class() -> None:
    chunks = chunks_of("pkg/stack.py", (SNIPPETS / "stack.py").read_bytes())
    pop = next(c for c in chunks if c.symbol == "Stack.pop")
    assert pop.text.startswith("# pkg/stack.py\n# class Stack(Base):\n")
    assert pop.text.endswith(pop.display)
    assert pop.display.splitlines()[0] == "    # Pops the top."  # leading comment kept with its method
    assert "@property" in pop.display


def test_class_outline_stubs_big_methods_and_keeps_small_ones() -> None:
    chunks = chunks_of("stack.py", (SNIPPETS / "stack.py").read_bytes())
    outline = next(c for c in chunks if c.symbol == "Stack")
    assert "def push(self, item):\n        self.items.append(item)" in outline.display  # small: inline
    assert "    def pop(self): ..." in outline.display  # big: a stub, its body elsewhere
    assert "raise IndexError" not in outline.display
    assert "    class Inner: ..." in outline.display
    assert outline.extra["inlined"] == ["push"]
    assert not any(c.symbol == "Stack.push" for c in chunks)
    # nested functions stay inside their function
    assert not any(c.symbol and "nested" in c.symbol for c in chunks)


def test_no_line_is_lost(tmp_path: Path) -> None:
    """Every line with a word in it is inside some chunk's range."""
    for name in EXPECTED:
        text = (SNIPPETS / name).read_text()
        chunks = chunks_of(name, text)
        covered = {n for c in chunks for n in range(c.start_line, c.end_line + 1)}
        for n, line in enumerate(text.splitlines(), start=1):
            if any(ch.isalnum() for ch in line) and not line.lstrip().startswith(("namespace", "mod ")):
                assert n in covered, f"{name}:{n} {line!r} not in any chunk"


def test_broken_code_falls_back_to_line_windows() -> None:
    broken = "def ok():\n    return 1\n" + "".join(f"x = ((( [ {i} ,, }}\n" for i in range(40))
    chunks = chunks_of("broken.py", broken)
    assert chunks
    assert all("fallback" in c.extra and "parse errors" in c.extra["fallback"] for c in chunks)
    assert chunks[0].start_line == 1
    assert chunks[-1].end_line == 42


def test_small_parse_error_keeps_the_tree() -> None:
    text = "def a():\n    return 1\n\n\ndef b(:\n    pass\n\n\n" + "".join(
        f"def f{i}(x):\n    y = x * {i}\n    return y\n\n" for i in range(20)
    )
    chunks = chunks_of("mostly_ok.py", text)
    assert "a" in [c.symbol for c in chunks]
    assert "f19" in [c.symbol for c in chunks]
    assert not any("fallback" in c.extra for c in chunks)


def test_unsupported_language_uses_overlapping_windows() -> None:
    text = "\n".join(f"val x{i} = compute({i})" for i in range(150))
    chunks = chunks_of("Main.kt", text)
    assert len(chunks) >= 3
    assert chunks[0].language == "kotlin" and chunks[0].text.startswith("// Main.kt\n")
    assert chunks[0].start_line == 1 and chunks[-1].end_line == 150
    for a, b in itertools.pairwise(chunks):
        assert b.start_line <= a.end_line  # small overlap
        assert a.end_line - b.start_line < 10


def test_empty_and_blank_files_give_no_chunks() -> None:
    assert chunks_of("empty.py", "") == []
    assert chunks_of("blank.py", "\n\n   \n") == []
