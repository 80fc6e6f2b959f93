"""Tree-sitter grammars as data: which nodes are functions, classes and scopes in each language.

- `functions` get their own chunk (nested functions stay inside their parent's chunk);
- `classes` get an outline chunk: the class with its big members replaced by one-line stubs,
  each big member getting its own chunk (see `omnivec.ingest.code`);
- `scopes` (namespaces, modules) get no chunk of their own: they only prefix symbols, and code
  directly inside them goes to line windows;
- `patterns` are extra tree-sitter query patterns for definitions that need a field test
  (`const f = () => ...`), captured as @function/@class/@scope.
Node types a grammar version lacks are dropped, so a grammar upgrade cannot break the query.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

from omnivec.errors import require

_JS_FUNCTION_VALUES = "[(arrow_function) (function_expression) (generator_function)]"
_JS_PATTERNS = f"""
(variable_declarator value: {_JS_FUNCTION_VALUES}) @function
(assignment_expression left: (member_expression) right: {_JS_FUNCTION_VALUES}) @function
"""
_JS_FIELD = "(field_definition value: [(arrow_function) (function_expression)]) @function"
_TS_FIELD = "(public_field_definition value: [(arrow_function) (function_expression)]) @function"
_JS_FUNCTIONS = ("function_declaration", "generator_function_declaration", "method_definition")
_TS_CLASSES = (
    "class_declaration", "abstract_class_declaration", "interface_declaration", "enum_declaration",
    "type_alias_declaration",
)  # fmt: skip
# only with a body: `struct node *next;` and `class Foo;` are uses and forward declarations
_C_CLASSES = """
(struct_specifier body: (_)) @class
(union_specifier body: (_)) @class
(enum_specifier body: (_)) @class
"""


@dataclass(frozen=True)
class LanguageSpec:
    """How to load one grammar and which of its nodes are definitions."""

    module: str
    factory: str = "language"
    functions: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    patterns: str = ""
    comment: str = "//"  # line-comment marker for the context header
    stub: str = " { ... }"  # appended to a member's signature in its class outline


LANGUAGES: dict[str, LanguageSpec] = {
    "python": LanguageSpec(
        "tree_sitter_python",
        functions=("function_definition",),
        classes=("class_definition",),
        comment="#",
        stub=" ...",
    ),
    "javascript": LanguageSpec(
        "tree_sitter_javascript",
        functions=_JS_FUNCTIONS,
        classes=("class_declaration",),
        patterns=_JS_PATTERNS + _JS_FIELD,
    ),
    "typescript": LanguageSpec(
        "tree_sitter_typescript",
        "language_typescript",
        functions=_JS_FUNCTIONS,
        classes=_TS_CLASSES,
        scopes=("internal_module", "module"),
        patterns=_JS_PATTERNS + _TS_FIELD,
    ),
    "tsx": LanguageSpec(
        "tree_sitter_typescript",
        "language_tsx",
        functions=_JS_FUNCTIONS,
        classes=_TS_CLASSES,
        scopes=("internal_module", "module"),
        patterns=_JS_PATTERNS + _TS_FIELD,
    ),
    "go": LanguageSpec(
        "tree_sitter_go",
        functions=("function_declaration", "method_declaration"),
        classes=("type_spec",),
    ),
    "rust": LanguageSpec(
        "tree_sitter_rust",
        functions=("function_item", "macro_definition"),
        classes=("struct_item", "enum_item", "union_item", "trait_item", "impl_item"),
        scopes=("mod_item",),
    ),
    "java": LanguageSpec(
        "tree_sitter_java",
        functions=("method_declaration", "constructor_declaration", "compact_constructor_declaration"),
        classes=(
            "class_declaration",
            "interface_declaration",
            "enum_declaration",
            "record_declaration",
            "annotation_type_declaration",
        ),
    ),  # fmt: skip
    "c": LanguageSpec("tree_sitter_c", functions=("function_definition",), patterns=_C_CLASSES),
    "cpp": LanguageSpec(
        "tree_sitter_cpp",
        functions=("function_definition",),
        scopes=("namespace_definition",),
        patterns=_C_CLASSES + "(class_specifier body: (_)) @class",
    ),  # fmt: skip
    "ruby": LanguageSpec(
        "tree_sitter_ruby",
        functions=("method", "singleton_method"),
        classes=("class", "module"),
        comment="#",
        stub=" ... end",
    ),
    "php": LanguageSpec(
        "tree_sitter_php",
        "language_php",
        functions=("function_definition", "method_declaration"),
        classes=(
            "class_declaration",
            "interface_declaration",
            "trait_declaration",
            "enum_declaration",
        ),
        scopes=("namespace_definition",),
    ),  # fmt: skip
    "csharp": LanguageSpec(
        "tree_sitter_c_sharp",
        functions=(
            "method_declaration",
            "constructor_declaration",
            "destructor_declaration",
            "operator_declaration",
            "property_declaration",
            "indexer_declaration",
        ),
        classes=(
            "class_declaration",
            "struct_declaration",
            "interface_declaration",
            "record_declaration",
            "enum_declaration",
        ),
        scopes=("namespace_declaration", "file_scoped_namespace_declaration"),
    ),  # fmt: skip
    "bash": LanguageSpec("tree_sitter_bash", functions=("function_definition",), comment="#"),
    "sql": LanguageSpec(
        "tree_sitter_sql",
        functions=("create_function", "create_procedure", "create_trigger"),
        classes=(
            "create_table",
            "create_view",
            "create_materialized_view",
            "create_index",
            "create_type",
            "create_schema",
            "create_sequence",
            "alter_table",
        ),
        comment="--",
        stub="",
    ),  # fmt: skip
}

#: nodes that carry a definition plus its decorators, `export`, `template<...>`, `const`...: the
#: chunk covers the wrapper when it holds exactly one definition
WRAPPERS = frozenset({
    "decorated_definition", "export_statement", "template_declaration", "type_declaration",
    "lexical_declaration", "variable_declaration", "expression_statement", "ambient_declaration",
    "type_definition", "statement",
})  # fmt: skip
#: preceding siblings glued to a definition when adjacent to it (doc comments, Rust attributes)
LEADING = frozenset({"comment", "line_comment", "block_comment", "attribute_item", "doc_comment"})
#: body nodes, for grammars whose definitions have no `body` field
BODIES = frozenset({
    "block", "class_body", "declaration_list", "field_declaration_list", "body_statement",
    "statement_block", "compound_statement", "enum_body", "interface_body", "enum_variant_list",
    "enum_member_declaration_list", "enumerator_list", "function_body", "column_definitions",
})  # fmt: skip


@dataclass(frozen=True)
class Grammar:
    """A loaded grammar: the language and its compiled definitions query (both shareable)."""

    name: str
    spec: LanguageSpec
    language: Any
    query: Any

    def parse(self, data: bytes) -> Any:
        """Parse with this thread's parser (tree-sitter parsers must not be shared by threads)."""
        parsers = _local.__dict__.setdefault("parsers", {})
        parser = parsers.get(self.name)
        if parser is None:
            import tree_sitter as ts

            parser = parsers[self.name] = ts.Parser(self.language)
        return parser.parse(data)


_local = threading.local()


def supported(language: str | None) -> bool:
    return language in LANGUAGES


@cache
def grammar(language: str) -> Grammar:
    """Load (once per process) the grammar and query for `language`; KeyError if unsupported."""
    spec = LANGUAGES[language]
    ts = require("tree_sitter", "index", "chunking code")
    module = require(spec.module, "index", f"chunking {language} code")
    lang = ts.Language(getattr(module, spec.factory)())
    parts = [spec.patterns]
    for capture, kinds in (("function", spec.functions), ("class", spec.classes), ("scope", spec.scopes)):
        present = [k for k in kinds if lang.id_for_node_kind(k, True) is not None]
        if present:
            parts.append("[" + " ".join(f"({k})" for k in present) + f"] @{capture}")
    return Grammar(language, spec, lang, ts.Query(lang, "\n".join(parts)))
