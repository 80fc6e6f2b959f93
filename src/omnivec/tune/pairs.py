"""Training pairs mined from code: docstring -> function, first half -> second half.

Everything here is pure text work (no model, no store): a `Candidate` is one function's source
as the chunker cut it; `mine_pairs` turns candidates into `Pair`s, and `attach_negatives` gives
each pair a hard negative chosen by a neighbour function the caller supplies (dense neighbours
from the store in `omnivec tune`).

>>> c = Candidate("a", "m.py", "add", "python", 'def add(a, b):\\n    "Add two numbers a and b."\\n    return a + b\\n')
>>> p = docstring_pair(c)
>>> p.anchor, p.positive
('Add two numbers a and b.', 'def add(a, b):\\n    return a + b\\n')
"""

from __future__ import annotations

import ast
import random
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

PairKind = Literal["docstring", "halves"]
PAIR_KINDS: tuple[PairKind, ...] = ("docstring", "halves")
# How a total budget of pairs is shared between kinds. Halves pairs teach code-to-code quickly
# (512 of them: +0.084 dense nDCG@10 on code-to-code-dev), docstring pairs need thousands before
# docstring queries move (512: +0.007; 3200: most of the +0.09 a 5460-pair run gives), so a
# budget goes mostly to docstrings. See docs/results.md (omnivec tune).
KIND_SHARES: dict[PairKind, int] = {"docstring": 3, "halves": 1}
DEFAULT_MAX_PAIRS = 4000  # 3000 docstring + 1000 halves: 125 steps of 32

MIN_DOC_WORDS = 4  # shorter summaries ("Getter.", "Return x.") teach little
MAX_ANCHOR_CHARS = 300
MIN_HALF_LINES = 8  # code lines a function needs before its halves make a pair (as code-to-code-dev)
MAX_CODE_CHARS = 6000  # longer functions would be truncated by the model anyway
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(\"'])")
_DOC_COMMENT = re.compile(r"^\s*(/\*\*(?P<block>.*?)\*/|(?P<lines>(?:[ \t]*(?:///?|#)[^\n]*\n)+))", re.S)


@dataclass(frozen=True)
class Candidate:
    """One function (or method) as indexed: `code` is its raw source (indentation as in the file)."""

    id: str
    path: str
    symbol: str | None
    language: str | None
    code: str


@dataclass(frozen=True)
class Pair:
    """`anchor` should retrieve `positive`; `negative` is a hard negative ("" until attached)."""

    kind: PairKind
    anchor: str
    positive: str
    source_id: str
    negative: str = ""
    negative_id: str = ""


def first_sentence(doc: str) -> str:
    """The summary a docstring opens with: its first sentence, whitespace collapsed."""
    para = re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0]
    para = " ".join(para.split())
    return _SENTENCE_END.split(para, maxsplit=1)[0][:MAX_ANCHOR_CHARS].strip()


def _python_docstring(code: str) -> tuple[str, str] | None:
    """(docstring, code without it) for a Python function; None without one or when unparsable."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    if not tree.body or not isinstance(tree.body[0], ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    fn = tree.body[0]
    doc = ast.get_docstring(fn, clean=True)
    first = fn.body[0]
    if doc is None or len(fn.body) < 2 or first.end_lineno is None:
        return None
    lines = code.splitlines(keepends=True)
    rest = lines[: first.lineno - 1] + lines[first.end_lineno :]
    return doc, "".join(rest)


def _doc_comment(code: str) -> tuple[str, str] | None:
    """(doc comment, code without it) for a leading `/** */`, `///`, `//` or `#` comment block."""
    m = _DOC_COMMENT.match(code)
    if m is None:
        return None
    if m.group("block") is not None:
        body = [re.sub(r"^\s*\*?\s?", "", ln) for ln in m.group("block").splitlines()]
    else:
        body = [re.sub(r"^\s*(///?|#)\s?", "", ln) for ln in m.group("lines").splitlines()]
    # JSDoc / Javadoc tags (@param ...) start the details, not the summary
    summary = "\n".join(ln for ln in body if not ln.lstrip().startswith("@"))
    rest = code[m.end() :].lstrip("\n")
    return (summary, rest) if rest.strip() else None


def split_doc(c: Candidate) -> tuple[str, str] | None:
    """(documentation, code without it), dedented; None when the function has no documentation."""
    code = textwrap.dedent(c.code)
    found = _python_docstring(code) if c.language == "python" else _doc_comment(code)
    return found


def docstring_pair(c: Candidate) -> Pair | None:
    """Docstring summary -> the function with its docstring removed (None if not usable)."""
    found = split_doc(c)
    if found is None:
        return None
    doc, code = found
    anchor = first_sentence(doc)
    if len(anchor.split()) < MIN_DOC_WORDS or not code.strip():
        return None
    return Pair("docstring", anchor, code, c.id)


def _is_code_line(line: str, comment: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith(comment)


def halves_pair(c: Candidate, min_lines: int = MIN_HALF_LINES) -> Pair | None:
    """First half -> second half of a function (documentation removed), cut by code lines.

    The cut is at the line holding the (n//2)-th of the n code lines (blank and comment-only
    lines not counted), the rule code-to-code-dev uses; the second half keeps its indentation.
    """
    found = split_doc(c)
    code = found[1] if found else textwrap.dedent(c.code)
    lines = code.splitlines(keepends=True)
    comment = "#" if c.language in (None, "python", "ruby", "bash", "shell") else "//"
    code_rows = [i for i, ln in enumerate(lines) if _is_code_line(ln, comment)]
    if len(code_rows) < min_lines:
        return None
    cut = code_rows[len(code_rows) // 2]
    first, second = "".join(lines[:cut]), "".join(lines[cut:])
    if not first.strip() or not second.strip():
        return None
    return Pair("halves", first, second, c.id)


MINERS: dict[PairKind, Callable[[Candidate], Pair | None]] = {
    "docstring": docstring_pair,
    "halves": halves_pair,
}


def mine_pairs(
    candidates: Iterable[Candidate],
    kinds: Sequence[PairKind] = PAIR_KINDS,
    max_pairs: int | dict[PairKind, int] | None = None,
    seed: int = 0,
) -> list[Pair]:
    """Every usable pair of each kind, de-duplicated, then a seeded sample of at most `max_pairs`.

    `max_pairs` is a total (split between kinds by `KIND_SHARES`, the unused share of a short kind
    going to the others) or a cap per kind. The result is shuffled (seeded).
    """
    found: dict[PairKind, list[Pair]] = {k: [] for k in kinds}
    seen: set[tuple[str, str]] = set()
    for c in candidates:
        if len(c.code) > MAX_CODE_CHARS:
            continue
        for kind in kinds:
            p = MINERS[kind](c)
            if p is not None and (kind, p.positive) not in seen:
                seen.add((kind, p.positive))
                found[kind].append(p)
    rng = random.Random(seed)
    caps = _caps({k: len(v) for k, v in found.items()}, max_pairs)
    out = [p for k in kinds for p in rng.sample(found[k], caps[k])]
    rng.shuffle(out)
    return out


def _caps(available: dict[PairKind, int], max_pairs: int | dict[PairKind, int] | None) -> dict[PairKind, int]:
    if max_pairs is None:
        return dict(available)
    if isinstance(max_pairs, dict):
        return {k: min(n, max_pairs.get(k, n)) for k, n in available.items()}
    caps = dict.fromkeys(available, 0)
    left, open_kinds = max_pairs, [k for k, n in available.items() if n]
    while left > 0 and open_kinds:
        weight = sum(KIND_SHARES[k] for k in open_kinds)
        shares = {k: max(1, left * KIND_SHARES[k] // weight) for k in open_kinds}
        for k in list(open_kinds):
            take = min(shares[k], available[k] - caps[k], left)
            caps[k] += take
            left -= take
            if caps[k] == available[k]:
                open_kinds.remove(k)
    return caps


def count_kinds(pairs: Iterable[Pair]) -> dict[str, int]:
    return dict(Counter(p.kind for p in pairs))


def attach_negatives(
    pairs: Sequence[Pair],
    neighbours: Callable[[Pair], Sequence[str]],
    texts: Callable[[str, Pair], str | None],
) -> list[Pair]:
    """Give each pair the first neighbour of its positive that is a usable hard negative.

    `neighbours(pair)` lists candidate ids, nearest first (dense neighbours of the positive);
    `texts(id, pair)` renders a candidate the way the pair's positive is rendered (None: unusable).
    A neighbour is never the positive itself, nor a text equal to the positive or to the anchor.
    Pairs with no usable neighbour keep `negative == ""`.
    """
    out = []
    for p in pairs:
        for nid in neighbours(p):
            if nid == p.source_id:
                continue
            text = texts(nid, p)
            if text and text.strip() != p.positive.strip() and text.strip() != p.anchor.strip():
                out.append(replace(p, negative=text, negative_id=nid))
                break
        else:
            out.append(p)
    return out


def render_like(c: Candidate, kind: PairKind) -> str | None:
    """A candidate as a pair of `kind` shows its positive: the code without docs, or its second half."""
    if kind == "docstring":
        found = split_doc(c)
        return found[1] if found else textwrap.dedent(c.code)
    half = halves_pair(c, min_lines=2)
    return half.positive if half else None
