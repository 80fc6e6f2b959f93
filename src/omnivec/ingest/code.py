"""Source code -> chunk drafts, one per definition, with tree-sitter.

Design (classes): a class gets one *outline* chunk: its header, fields, docstring and small
members verbatim, while each member over `INLINE_MAX_LINES` lines (or `INLINE_MAX_BYTES`) is
replaced by a one-line stub (`def pop(self): ...`) and gets a chunk of its own. So no line is
embedded twice, the class chunk answers "what is Stack / what does it hold", and every real method
is findable on its own. Smaller members (getters, one-liners) would make weak chunks alone; they
stay inline and are listed in `extra["inlined"]`. Namespaces/modules get no chunk: they only
prefix symbols. Functions nested in functions stay in their parent's chunk.

Every chunk's text starts with a short context header in the language's comment syntax: the path,
then the signature of each enclosing class/namespace (`# class Stack(Base):`). Code outside any
definition (imports, constants, `if __name__ == ...`) goes into line windows. Files whose tree is
mostly ERROR nodes are chunked by line windows and flagged with `extra["fallback"]`.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from omnivec.ingest.languages import BODIES, LEADING, WRAPPERS, Grammar, grammar, supported
from omnivec.ingest.names import node_name
from omnivec.ingest.split import Draft, Line, has_words, windows

log = logging.getLogger(__name__)

Role = Literal["function", "class", "scope"]
# a member this small (a getter, a one-liner) stays inside its class outline
INLINE_MAX_LINES, INLINE_MAX_BYTES = 3, 240
MAX_ERROR_SHARE = 0.25  # more of the file than this under ERROR nodes: the tree is not trusted
WINDOW_LINES, WINDOW_CHARS, WINDOW_OVERLAP = 60, 3000, 4
MAX_SIGNATURE = 160
MAX_HEADER_SCOPES = 3


@dataclass(eq=False)
class _Def:
    node: Any
    role: Role
    name: str | None
    path: tuple[str, ...]  # enclosing names, outermost first
    parent: _Def | None
    emitted: bool  # has a chunk of its own (scopes: whether what is inside may have chunks)
    start: int = 0  # byte range of the chunk: wrappers, leading comments and indentation included
    end: int = 0
    members: list[_Def] = field(default_factory=list)  # emitted defs directly inside (outlines)
    inlined: list[str] = field(default_factory=list)

    @property
    def symbol(self) -> str | None:
        parts = (*self.path, self.name) if self.name else self.path
        return ".".join(parts) or None


class _Source:
    """The file's bytes with line lookups (tree-sitter speaks bytes)."""

    def __init__(self, data: bytes, path: str, comment: str, stub: str) -> None:
        self.data, self.path, self.comment, self.stub = data, path, comment, stub
        self.line_starts = [0]
        pos = data.find(b"\n")
        while pos != -1:
            self.line_starts.append(pos + 1)
            pos = data.find(b"\n", pos + 1)

    def row(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset) - 1

    def lines(self, start: int, end: int) -> list[Line]:
        if start >= end:
            return []
        text = self.data[start:end].decode("utf-8", "replace")
        first = self.row(start) + 1
        recs = [(first + i, t) for i, t in enumerate(text.split("\n"))]
        while recs and not recs[-1][1].strip():
            recs.pop()
        return recs

    def line_start_if_blank(self, offset: int) -> int:
        """Move `offset` back to the start of its line when only indentation precedes it."""
        begin = self.line_starts[self.row(offset)]
        if offset - begin > 256:  # no indentation is that deep; minified lines are megabytes long
            return offset
        return begin if not self.data[begin:offset].strip() else offset

    def line_end_if_punctuation(self, offset: int) -> int:
        """Move `offset` past the rest of its line when that is only `;`, `)` and the like."""
        row = self.row(offset)
        end = self.line_starts[row + 1] - 1 if row + 1 < len(self.line_starts) else len(self.data)
        if end - offset > 16:
            return offset
        rest = self.data[offset:end]
        return end if rest.strip() and not any(chr(b).isalnum() for b in rest) else offset

    def header(self, scopes: list[_Def]) -> str:
        lines = [self.path] + [signature(d.node, self.data) for d in scopes[-MAX_HEADER_SCOPES:]]
        return "".join(f"{self.comment} {line}\n" for line in lines)


#: comment markers for the header of languages chunked by line windows
LINE_COMMENTS: dict[str, str] = {
    "kotlin": "//", "swift": "//", "scala": "//", "dart": "//", "groovy": "//", "zig": "//",
    "css": "/*", "scss": "//", "less": "//", "protobuf": "//", "graphql": "#", "terraform": "#",
    "lua": "--", "haskell": "--", "elixir": "#", "perl": "#", "r": "#", "julia": "#", "make": "#",
    "dockerfile": "#", "cmake": "#", "yaml": "#", "toml": "#", "ini": ";", "powershell": "#",
    "starlark": "#", "nim": "#", "erlang": "%", "ocaml": "(*", "fsharp": "//", "objc": "//",
    "vim": '"', "verilog": "//", "vhdl": "--", "batch": "REM",
}  # fmt: skip


def code_drafts(text: str, path: str, language: str) -> list[Draft]:
    """Drafts for code: tree-sitter chunks where a grammar exists, line windows otherwise."""
    if supported(language):
        return chunk_code(text, path, language)
    return line_windows(text, path, LINE_COMMENTS.get(language))


def chunk_code(text: str, path: str, language: str) -> list[Draft]:
    """Drafts for one source file in a tree-sitter language (see the module docstring)."""
    g = grammar(language)
    src = _Source(text.encode("utf-8", "surrogatepass"), path, g.spec.comment, g.spec.stub)
    tree = g.parse(src.data)
    share = _error_share(tree.root_node, len(src.data))
    if share > MAX_ERROR_SHARE:
        reason = f"parse errors in {share:.0%} of the file (fell back to line windows)"
        log.info("%s: %s", path, reason)
        return line_windows(text, path, g.spec.comment, {"fallback": reason})
    defs = _definitions(g, tree.root_node, src)
    emitted = [d for d in defs if d.emitted and d.role != "scope"]
    drafts = [_def_draft(d, src) for d in emitted]
    drafts += _gap_drafts(emitted, [d for d in defs if d.role == "scope"], src)
    drafts.sort(key=lambda d: (d.start_line, -d.end_line))
    return drafts


def line_windows(
    text: str, path: str, comment: str | None, extra: dict[str, Any] | None = None
) -> list[Draft]:
    """Overlapping line windows: the chunker for languages without a grammar, and the fallback."""
    header = f"{comment} {path}\n" if comment else f"{path}\n"
    recs = [(i + 1, t) for i, t in enumerate(text.split("\n"))]
    return [
        Draft(header, w, extra=dict(extra or {}))
        for w in windows(recs, WINDOW_LINES, WINDOW_CHARS, WINDOW_OVERLAP)
        if has_words(w)
    ]


def _definitions(g: Grammar, root: Any, src: _Source) -> list[_Def]:
    """Captured definitions in source order, nested by byte ranges, with emit decisions."""
    import tree_sitter as ts

    found: dict[int, tuple[Any, Role]] = {}
    for role, nodes in ts.QueryCursor(g.query).captures(root).items():
        for node in nodes:
            found.setdefault(node.id, (node, role))  # type: ignore[arg-type]
    ordered = sorted(found.values(), key=lambda nr: (nr[0].start_byte, -nr[0].end_byte))
    wrapped = _wrapper_counts(n for n, _ in ordered)
    defs: list[_Def] = []
    open_defs: list[_Def] = []
    prefix: tuple[str, ...] = ()  # `namespace Foo;` applies to the definitions that follow it
    for node, role in ordered:
        while open_defs and open_defs[-1].node.end_byte <= node.start_byte:
            open_defs.pop()
        parent = open_defs[-1] if open_defs else None
        name = node_name(node, src.data)
        d = _new_def(node, role, name, parent, prefix)
        if role == "scope" and parent is None and _body(node) is None:
            prefix = (name,) if name else ()
            continue
        d.start, d.end = _extent(node, wrapped, src)
        if parent is not None and d.emitted and parent.role == "class":
            parent.members.append(d)
        elif parent is not None and parent.role == "class" and parent.emitted and name:
            parent.inlined.append(name)
        defs.append(d)
        open_defs.append(d)
    return defs


def _new_def(node: Any, role: Role, name: str | None, parent: _Def | None, prefix: tuple[str, ...]) -> _Def:
    if parent is None:
        return _Def(node, role, name, prefix, None, emitted=True)
    path = (*parent.path, parent.name) if parent.name else parent.path
    if parent.role == "function" or not parent.emitted:
        emitted = False  # inside a function body or an inlined member: part of that chunk
    elif parent.role == "class" and role != "scope":
        lines = node.end_point[0] - node.start_point[0] + 1
        emitted = lines > INLINE_MAX_LINES or node.end_byte - node.start_byte > INLINE_MAX_BYTES
    else:
        emitted = True
    return _Def(node, role, name, path, parent, emitted)


def _wrapper_counts(nodes: Iterator[Any]) -> dict[int, int]:
    """How many definitions each wrapper node holds (only single-definition wrappers are absorbed)."""
    counts: dict[int, int] = {}
    for node in nodes:
        parent = node.parent
        while parent is not None and parent.type in WRAPPERS:
            counts[parent.id] = counts.get(parent.id, 0) + 1
            parent = parent.parent
    return counts


def _extent(node: Any, wrapped: dict[int, int], src: _Source) -> tuple[int, int]:
    outer = node
    while outer.parent is not None and wrapped.get(outer.parent.id) == 1:
        outer = outer.parent
    start = outer.start_byte
    prev = outer.prev_named_sibling
    first_row = outer.start_point[0]
    while prev is not None and prev.type in LEADING and prev.end_point[0] >= first_row - 1:
        before = prev.prev_sibling
        if before is not None and before.end_point[0] == prev.start_point[0]:
            break  # a trailing comment of the previous statement, not a doc comment
        start, first_row = prev.start_byte, prev.start_point[0]
        prev = prev.prev_named_sibling
    return src.line_start_if_blank(start), src.line_end_if_punctuation(outer.end_byte)


def _def_draft(d: _Def, src: _Source) -> Draft:
    scopes = []
    p = d.parent
    while p is not None:
        scopes.append(p)
        p = p.parent
    extra: dict[str, Any] = {"node": d.node.type}
    span = None
    if d.role == "class":
        lines = _outline(d, src)
        span = (src.row(d.start) + 1, src.row(max(d.end - 1, d.start)) + 1)
        if d.inlined:
            extra["inlined"] = list(d.inlined)
    else:
        lines = src.lines(d.start, d.end)
    return Draft(src.header(scopes[::-1]), lines, symbol=d.symbol, extra=extra, span=span)


def _outline(d: _Def, src: _Source) -> list[Line]:
    """The class's lines with each member that has its own chunk replaced by a stub line."""
    lines: list[Line] = []
    cursor = d.start
    for m in sorted(d.members, key=lambda m: m.start):
        if m.start < cursor:
            continue  # overlapping ranges (two definitions in one wrapper): keep the first
        lines += _skip_blank(src.lines(cursor, m.start))
        row = m.node.start_point[0]
        begin = src.line_starts[row]
        indent = src.data[begin : begin + m.node.start_point[1]].decode("utf-8", "replace")
        indent = indent if not indent.strip() else ""
        stub = signature(m.node, src.data) + src.stub
        lines.append((row + 1, indent + stub))
        cursor = m.end
    lines += _skip_blank(src.lines(cursor, d.end))
    return lines


def _skip_blank(recs: list[Line]) -> list[Line]:
    """Drop leading blank lines (the rest of a stubbed member's last line, spacing)."""
    i = 0
    while i < len(recs) and not recs[i][1].strip():
        i += 1
    return recs[i:]


def _gap_drafts(emitted: list[_Def], scopes: list[_Def], src: _Source) -> list[Draft]:
    """Line windows over the bytes no definition chunk covers, labelled with their namespace."""
    covered = sorted((d.start, d.end) for d in emitted)
    # `namespace Foo {` alone is no chunk: every chunk inside already names it in its header
    openers = {s.node.start_point[0] + 1 for s in scopes}
    drafts: list[Draft] = []
    cursor = 0
    for start, end in [*covered, (len(src.data), len(src.data))]:
        if start > cursor:
            recs = src.lines(cursor, start)
            if has_words([r for r in recs if r[0] not in openers]):
                scope = _innermost(scopes, cursor, start)
                chain = _chain(scope)
                header = src.header(chain)
                symbol = scope.symbol if scope else None
                for w in windows(recs, WINDOW_LINES, WINDOW_CHARS, WINDOW_OVERLAP):
                    if has_words(w):
                        drafts.append(Draft(header, w, symbol=symbol))
        cursor = max(cursor, end)
    return drafts


def _innermost(scopes: list[_Def], start: int, end: int) -> _Def | None:
    best = None
    for s in scopes:
        if s.node.start_byte <= start and end <= s.node.end_byte:
            best = s  # scopes are in source order, so later containing ones are nested deeper
    return best


def _chain(d: _Def | None) -> list[_Def]:
    out = []
    while d is not None:
        out.append(d)
        d = d.parent
    return out[::-1]


def _error_share(root: Any, size: int) -> float:
    """Fraction of the file's bytes inside ERROR nodes (0 when the tree has none)."""
    if not root.has_error or size == 0:
        return 0.0
    if root.is_error:
        return 1.0
    bad, stack = 0, [root]
    while stack:
        node = stack.pop()
        if node.is_error:
            bad += node.end_byte - node.start_byte
        elif node.has_error:
            stack.extend(node.children)
    return bad / size


def _body(node: Any) -> Any:
    body = node.child_by_field_name("body")
    if body is not None:
        return body
    return next((c for c in node.named_children if c.type in BODIES), None)


def signature(node: Any, data: bytes) -> str:
    """A definition's head up to its body, on one line: `class Stack(Base):`, `fn push(&mut self, x: T)`."""
    body = _body(node)
    end = body.start_byte if body is not None and body.start_byte > node.start_byte else node.end_byte
    head = data[node.start_byte : end].decode("utf-8", "replace")
    if body is None:
        head = head.split("\n", 1)[0]
    head = " ".join(head.split())
    return head if len(head) <= MAX_SIGNATURE else head[: MAX_SIGNATURE - 3] + "..."
