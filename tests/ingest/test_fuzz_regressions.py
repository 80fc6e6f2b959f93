"""Inputs the fuzzer (tests/fuzz/fuzz_ingest.py, `make fuzz`) found crashing, kept as tests."""

from __future__ import annotations

from .helpers import chunks_of


def test_malformed_marked_section_in_html() -> None:
    # html.parser (Python <= 3.12) raised AssertionError "expected name token at '<![<!<'"
    chunks = chunks_of("page.html", "<h1>Title</h1><p>before</p>&-,gny<B<![<!< <p>after the damage</p>")
    text = "\n".join(c.display for c in chunks)
    assert "before" in text and "after the damage" in text
