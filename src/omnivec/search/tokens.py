"""Code-aware word splitting shared by the keyword index and the BM25 evaluator.

Identifiers are kept whole and also split on snake_case, camelCase and digits, so `parseHTTPResponse`
matches queries for "parse http response" and for the identifier itself.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def split_identifier(word: str) -> list[str]:
    """`parseHTTPResponse_v2` -> ['parse', 'http', 'response', 'v', '2'] (lower case)."""
    return [p.lower() for piece in word.split("_") for p in _PART.findall(piece)]


def code_tokens(text: str, keep_whole: bool = True) -> list[str]:
    """Lower-cased tokens: each identifier whole (when compound) plus its parts."""
    out: list[str] = []
    for word in _WORD.findall(text):
        parts = split_identifier(word)
        if keep_whole and (len(parts) > 1 or not parts):
            out.append(word.lower())
        out.extend(parts)
    return out
