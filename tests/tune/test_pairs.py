"""Pair mining is pure text work: docstrings removed, halves cut at the right line, seeded caps."""

from __future__ import annotations

import textwrap

from omnivec.tune.pairs import (
    Candidate,
    Pair,
    attach_negatives,
    count_kinds,
    docstring_pair,
    first_sentence,
    halves_pair,
    mine_pairs,
    render_like,
)

METHOD = '''    @staticmethod
    def scale(values, factor):
        """Multiply each value by the factor and return a new list.

        Args:
            values: numbers.
        """
        out = [v * factor for v in values]
        return out
'''


def cand(code: str, cid: str = "c", language: str = "python") -> Candidate:
    return Candidate(cid, "m.py", "f", language, code)


def test_docstring_pair_removes_the_docstring_and_dedents():
    p = docstring_pair(cand(METHOD))
    assert p is not None and p.kind == "docstring"
    assert p.anchor == "Multiply each value by the factor and return a new list."
    assert '"""' not in p.positive and "Args" not in p.positive
    assert p.positive == textwrap.dedent(
        """\
        @staticmethod
        def scale(values, factor):
            out = [v * factor for v in values]
            return out
        """
    )


def test_no_docstring_pair_for_short_docs_docstring_only_bodies_or_broken_code():
    assert docstring_pair(cand('def f():\n    "Getter."\n    return 1\n')) is None
    assert docstring_pair(cand('def f():\n    """Does nothing at all here really."""\n')) is None
    assert docstring_pair(cand("def f(:\n    pass\n")) is None
    assert (
        docstring_pair(cand("class A:\n    '''A class with a long docstring here.'''\n    x = 1\n")) is None
    )


def test_doc_comments_of_other_languages():
    js = "/**\n * Return the sum of two numbers given as arguments.\n * @param a first\n */\nfunction add(a, b) {\n  return a + b;\n}\n"
    p = docstring_pair(cand(js, language="javascript"))
    assert p is not None
    assert p.anchor == "Return the sum of two numbers given as arguments."
    assert p.positive.startswith("function add") and "@param" not in p.positive


def test_first_sentence():
    assert first_sentence("Do a thing. Then more.\n\nDetails.") == "Do a thing."
    assert first_sentence("Spans\n  two lines. Next") == "Spans two lines."


def test_halves_split_at_the_middle_code_line_ignoring_blanks_comments_and_docstring():
    lines = [f"    x{i} = {i}" for i in range(9)]
    code = (
        'def f():\n    """Doc string that is removed first."""\n    # a comment\n\n' + "\n".join(lines) + "\n"
    )
    p = halves_pair(cand(code))
    assert p is not None and p.kind == "halves"
    # 10 code lines (def + 9 assignments): the cut is at the 5th (0-based), i.e. `x4 = 4`
    assert p.positive.startswith("    x4 = 4\n")
    assert p.anchor.startswith("def f():\n    # a comment\n") and "Doc string" not in p.anchor
    assert p.anchor.rstrip().endswith("x3 = 3")
    assert halves_pair(cand("def f():\n" + "\n".join(lines[:5]) + "\n")) is None  # under 8 code lines


def test_mine_pairs_caps_are_seeded_and_spread_over_kinds():
    cands = [
        cand(
            f'def f{i}(a):\n    """Compute the value number {i} of the series."""\n'
            + "".join(f"    a += {i * 100 + j}\n" for j in range(10))
            + "    return a\n",
            f"c{i}",
        )
        for i in range(20)
    ]
    all_pairs = mine_pairs(cands)
    assert count_kinds(all_pairs) == {"docstring": 20, "halves": 20}
    some = mine_pairs(cands, max_pairs=12, seed=1)
    assert count_kinds(some) == {"docstring": 9, "halves": 3}  # KIND_SHARES 3:1
    assert count_kinds(mine_pairs(cands, max_pairs=30)) == {"docstring": 20, "halves": 10}  # short kind
    assert count_kinds(mine_pairs(cands, max_pairs=36)) == {"docstring": 20, "halves": 16}
    assert some == mine_pairs(cands, max_pairs=12, seed=1)
    assert count_kinds(mine_pairs(cands, ("docstring",), max_pairs=50)) == {"docstring": 20}


def test_hard_negatives_are_never_the_positive():
    pairs = [Pair("docstring", f"anchor {i}", f"code {i}", f"c{i}") for i in range(4)]
    texts = {f"c{i}": f"code {i}" for i in range(4)} | {"dup": "code 0", "empty": ""}

    def near(p: Pair) -> list[str]:
        # the positive itself first, then a copy of its text, then nothing usable, then a real one
        return [p.source_id, "dup", "empty", *sorted(texts)]

    out = attach_negatives(pairs, near, lambda nid, p: texts[nid])
    for p in out:
        assert p.negative and p.negative_id != p.source_id and p.negative != p.positive
    lonely = attach_negatives(pairs[:1], lambda p: [p.source_id], lambda nid, p: texts[nid])
    assert lonely[0].negative == ""


def test_render_like_matches_the_pair_kind():
    c = cand(METHOD)
    assert '"""' not in (render_like(c, "docstring") or "")
    assert render_like(c, "halves") == "    out = [v * factor for v in values]\n    return out\n"
