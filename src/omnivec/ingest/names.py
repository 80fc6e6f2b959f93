"""The name of a definition node, per grammar: most have a `name` field, the rest are listed here."""

from __future__ import annotations

from typing import Any

#: C/C++ declarators nest (`*f(void)`, `(*fp)(int)`); the name is at the bottom of the chain
_DECLARATOR_LEAVES = frozenset({
    "identifier", "field_identifier", "qualified_identifier", "destructor_name", "operator_name",
    "type_identifier", "template_function", "operator_cast",
})  # fmt: skip
_NAME_LIKE = ("identifier", "name", "constant", "word", "type_identifier")


def node_name(node: Any, data: bytes) -> str | None:
    """`Stack`, `push`, `Stack.Push` (Go methods); None for anonymous definitions."""
    special = _SPECIAL.get(node.type)
    if special is not None:
        name = special(node, data)
    else:
        named = node.child_by_field_name("name")
        name = _text(named, data) if named is not None else _first_name(node, data)
    if not name:
        return None
    return name.replace("::", ".").replace("\\", ".")  # C++ `ns::f`, PHP `App\Models`


def _text(node: Any, data: bytes) -> str:
    return data[node.start_byte : node.end_byte].decode("utf-8", "replace").strip()


def _first_name(node: Any, data: bytes) -> str | None:
    for child in node.named_children:
        if child.type.endswith(_NAME_LIKE) or child.type == "object_reference":
            return _text(child, data)
    return None


def _declarator(node: Any, data: bytes) -> str | None:
    cur = node.child_by_field_name("declarator")
    for _ in range(16):  # a bound, not a real limit: declarators are rarely 3 deep
        if cur is None:
            return None
        if cur.type in _DECLARATOR_LEAVES:
            return _text(cur, data)
        nxt = cur.child_by_field_name("declarator")
        cur = nxt if nxt is not None else (cur.named_children[0] if cur.named_children else None)
    return None


def _c_type(node: Any, data: bytes) -> str | None:
    named = node.child_by_field_name("name")
    if named is not None:
        return _text(named, data)
    parent = node.parent  # `typedef struct { ... } point;`
    if parent is not None and parent.type == "type_definition":
        return _declarator(parent, data)
    return None


def _go_method(node: Any, data: bytes) -> str | None:
    name = node.child_by_field_name("name")
    receiver = node.child_by_field_name("receiver")
    owner = _find(receiver, "type_identifier") if receiver is not None else None
    if name is None:
        return None
    return f"{_text(owner, data)}.{_text(name, data)}" if owner is not None else _text(name, data)


def _rust_impl(node: Any, data: bytes) -> str | None:
    typ = node.child_by_field_name("type")
    if typ is None:
        return None
    inner = typ.child_by_field_name("type") if typ.type == "generic_type" else None
    return _text(inner if inner is not None else typ, data)


def _field(name: str) -> Any:
    def get(node: Any, data: bytes) -> str | None:
        child = node.child_by_field_name(name)
        return _text(child, data) if child is not None else None

    return get


def _sql(node: Any, data: bytes) -> str | None:
    # the first name: `CREATE INDEX idx ON users` is idx, `CREATE TABLE users` is users
    ref = next((c for c in node.named_children if c.type in ("object_reference", "identifier")), None)
    return _text(ref, data) if ref is not None else None


def _find(node: Any, kind: str, depth: int = 4) -> Any:
    for child in node.named_children:
        if child.type == kind:
            return child
        if depth > 0:
            hit = _find(child, kind, depth - 1)
            if hit is not None:
                return hit
    return None


_SPECIAL: dict[str, Any] = {
    "function_definition": lambda n, d: (
        _text(n.child_by_field_name("name"), d) if n.child_by_field_name("name") else _declarator(n, d)
    ),
    "struct_specifier": _c_type,
    "union_specifier": _c_type,
    "enum_specifier": _c_type,
    "class_specifier": _c_type,
    "method_declaration": lambda n, d: _go_method(n, d) if n.child_by_field_name("receiver") else (
        _field("name")(n, d)
    ),
    "impl_item": _rust_impl,
    "assignment_expression": _field("left"),
    "field_definition": _field("property"),
    "module": lambda n, d: _field("name")(n, d) or _first_name(n, d),
    **{k: _sql for k in (
        "create_function", "create_procedure", "create_trigger", "create_table", "create_view",
        "create_materialized_view", "create_index", "create_type", "create_schema", "create_sequence",
        "alter_table",
    )},
}  # fmt: skip
