"""`Filter` as a Milvus boolean expression with the local store's meaning (SQLite GLOB paths).

SQLite GLOB is case-sensitive, `*` matches any run of characters (`/` included), `?` one
character, `[abc]`, `[a-z]` and `[^abc]` a class. Milvus `like` is case-sensitive with `%` and `_`,
so `*` and `?` translate exactly and a literal `%` or `_` is escaped; a class has no `like`
equivalent and becomes `_` (one character, a superset), after which the exact GLOB is checked in
Python (`glob_regex`) on the candidates, before any top-k is taken, so a filter never under-fills.

>>> filter_expr(Filter(kinds=("code",), path_glob="src/*_test.py"))
('kind in ["code"] and path like "src/%\\\\_test.py"', False)
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from omnivec.stores.base import Filter


def quote(value: str) -> str:
    """A Milvus string literal (JSON escaping is what Milvus's expression parser reads)."""
    return json.dumps(value, ensure_ascii=False)


def in_list(field: str, values: Sequence[str]) -> str:
    return f"{field} in [{', '.join(quote(v) for v in values)}]"


def glob_like(glob: str) -> tuple[str, bool]:
    """(LIKE pattern, exact): exact is False when the pattern is a superset (a class was widened)."""
    out: list[str] = []
    exact = True
    i = 0
    while i < len(glob):
        ch = glob[i]
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch == "[" and (end := _class_end(glob, i)) > 0:
            out.append("_")
            exact = False
            i = end
        elif ch in "%_":
            out.append("\\" + ch)
        elif ch == "\\":  # no portable LIKE escape for a backslash: any character, then check
            out.append("_")
            exact = False
        else:
            out.append(ch)
        i += 1
    return "".join(out), exact


def _class_end(glob: str, start: int) -> int:
    """Index of the `]` closing the class opened at `start`, or -1 (then `[` is a literal)."""
    i = start + 1
    if i < len(glob) and glob[i] == "^":
        i += 1
    if i < len(glob) and glob[i] == "]":  # a leading ] is a member
        i += 1
    end = glob.find("]", i)
    return end


def glob_regex(glob: str) -> re.Pattern[str]:
    """SQLite GLOB as a regular expression (for the exact check after a widened `like`)."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        ch = glob[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[" and (end := _class_end(glob, i)) > 0:
            body = glob[i + 1 : end]
            neg = body.startswith("^")
            body = body[1:] if neg else body
            members = "".join("\\" + c if c in "\\^[]" else c for c in body)
            out.append(f"[{'^' if neg else ''}{members}]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def prefix_like(glob: str) -> tuple[str, bool]:
    """For servers whose `like` takes only `prefix%` (Milvus 2.3): the glob's leading literal run
    as a prefix pattern; exact when the glob is that run plus an optional final `*`."""
    special = next((i for i, ch in enumerate(glob) if ch in '*?[\\%_"'), len(glob))
    prefix, rest = glob[:special], glob[special:]
    return prefix + ("" if rest == "" else "%"), rest in ("", "*")


def filter_expr(flt: Filter | None, prefix_only: bool = False) -> tuple[str, bool]:
    """(expression, exact) for `flt`; "" matches everything. When not exact, callers keep only
    candidates whose path also matches `glob_regex(flt.path_glob)`."""
    if flt is None or flt.is_empty:
        return "", True
    parts: list[str] = []
    if flt.kinds:
        parts.append(in_list("kind", flt.kinds))
    if flt.languages:
        parts.append(in_list("language", flt.languages))
    exact = True
    if flt.path_glob:
        pattern, exact = (prefix_like if prefix_only else glob_like)(flt.path_glob)
        # Milvus reads a backslash in a string literal as an escape: double the ones `like` needs
        parts.append(f'path like "{_like_literal(pattern)}"')
    return " and ".join(parts), exact


def _like_literal(pattern: str) -> str:
    return pattern.replace("\\", "\\\\").replace('"', '\\"')


def ids_expr(ids: Sequence[str]) -> str:
    return in_list("id", ids)


def and_all(*parts: str) -> str:
    return " and ".join(f"({p})" for p in parts if p)
