"""`Query`: a search request that checks itself when it is made, before any model loads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from omnivec.errors import InputError
from omnivec.kinds import check_search_type, kinds_for_type
from omnivec.stores.base import Filter

Mode = Literal["hybrid", "dense", "keyword"]
MODES: tuple[Mode, ...] = get_args(Mode)
#: the retrievers whose lists are fused, and so the keys `Query.weights` may have
WEIGHT_KEYS = ("dense", "keyword")
MAX_K = 1000  # deeper lists cost a lot and read nothing a person or an agent would use
MAX_WEIGHT = 100.0  # a weight past this only overflows the fused score; mode="keyword" ranks by one side
#: longer query text is refused: the model reads its first few hundred tokens, and the keyword
#: side's cost grows with the query's terms (a 6 MB query held a core for ~20 s)
MAX_QUERY_CHARS = 65_536


@dataclass(frozen=True)
class Query:
    """A search request. `image` (a path or PIL image) with `text` makes a composed query.

    Every field is checked on construction; a bad value raises `InputError` saying what was
    received and what is accepted.

    >>> Query("parse a config file", type="code", k=5).mode
    'hybrid'
    """

    text: str | None = None
    image: Any = None
    k: int = 10
    type: str = "any"
    path_glob: str | None = None
    languages: tuple[str, ...] = ()
    mode: str = "hybrid"
    group_by_file: bool = False
    weights: Mapping[str, float] = field(default_factory=lambda: {"dense": 1.0, "keyword": 1.0})

    def __post_init__(self) -> None:
        if self.text is not None and not isinstance(self.text, str):
            raise InputError(f"query text of type {type(self.text).__name__} ({self.text!r:.60})",
                             "a str", "pass the query as text, e.g. search('parse a config file')",
                             param="text")  # fmt: skip
        if isinstance(self.languages, str):  # one language given bare: not its characters
            object.__setattr__(self, "languages", (self.languages,))
        if not (self.text and self.text.strip()) and self.image is None:
            raise InputError(
                "an empty query", "query text, an image, or both", "type what to look for", param="text"
            )
        _check_text(self.text)
        _check_k(self.k)
        check_search_type(self.type)
        _check_mode(self.mode, self)
        _check_weights(self.weights)
        _check_glob(self.path_glob)
        object.__setattr__(self, "languages", canonical_languages(self.languages))

    def filter(self) -> Filter:
        return Filter(kinds=kinds_for_type(self.type), languages=self.languages, path_glob=self.path_glob)

    def weight(self, retriever: str) -> float:
        return float(self.weights.get(retriever, 1.0))


def _check_k(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InputError(
            received=f"k = {k!r}",
            expected=f"a whole number of results from 1 to {MAX_K}",
            fix="ask for k = 10 results, for example",
            param="k",
        )


def _check_text(text: str | None) -> None:
    if text is None:
        return
    if len(text) > MAX_QUERY_CHARS:
        raise InputError(
            received=f"query text of {len(text):,} characters",
            expected=f"at most {MAX_QUERY_CHARS:,} characters",
            fix="search with the part that matters (a text model reads only its first few hundred tokens)",
            param="text",
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            received=f"query text with {text[exc.start]!a} at character {exc.start}, a lone UTF-16 surrogate",
            expected="text that is valid Unicode",
            fix="send the text as UTF-8, or escape characters outside the BMP as surrogate pairs",
            param="text",
        ) from None


def _check_mode(mode: str, q: Query) -> None:
    if mode not in MODES:
        raise InputError(
            received=f"mode {mode!r}", expected=f"one of {', '.join(MODES)}", fix="use mode hybrid (the default)",
            param="mode",
        )  # fmt: skip
    if mode == "keyword" and not (q.text and q.text.strip()):
        raise InputError(
            received="a keyword search without query text",
            expected="text to match (keyword search cannot read an image)",
            fix="add query text, or use mode dense for an image query",
            param="mode",
        )


def _check_weights(weights: Mapping[str, float]) -> None:
    unknown = sorted(set(weights) - set(WEIGHT_KEYS))
    if unknown:
        raise InputError(
            received=f"fusion weights for {', '.join(map(repr, unknown))}",
            expected=f"weights for {' and '.join(WEIGHT_KEYS)} only",
            fix="pass weights={'dense': 1.0, 'keyword': 1.0}",
        )
    for name, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= MAX_WEIGHT:
            raise InputError(
                received=f"{name} weight {w!r}",
                expected=f"a number from 0 to {MAX_WEIGHT:g}",
                fix=f"use a {name} weight of 1.0, for example (0 leaves that side out of the ranking; "
                f"mode {name} ranks by that side alone)",
                param=f"{name}_weight",
            )
    if weights and all(w == 0 for w in weights.values()) and set(weights) == set(WEIGHT_KEYS):
        raise InputError("every fusion weight 0", "at least one weight above 0", "raise one of the weights")


def _check_glob(glob: str | None) -> None:
    if glob is None:
        return
    if not glob.strip():
        raise InputError("an empty path glob", "a glob such as 'src/*.py'", "leave the path out, or give a glob",
                         param="path")  # fmt: skip
    depth = 0
    for ch in glob:  # SQLite GLOB: an unclosed '[' silently matches nothing
        depth = 1 if ch == "[" else 0 if ch == "]" else depth
    if depth:
        raise InputError(
            received=f"path glob {glob!r} with an unclosed '['",
            expected="a glob whose character classes are closed, e.g. 'src/[ab]*.py'",
            fix="close the bracket, or match a literal '[' with '[[]'",
            param="path",
        )


#: names people use for a language that are neither its label nor one of its file extensions
LANGUAGE_ALIASES = {"golang": "go", "c++": "cpp", "c#": "csharp", "cs": "csharp", "shell": "bash", "sh": "bash",
                    "js": "javascript", "node": "javascript", "ts": "typescript", "py": "python",
                    "python3": "python", "md": "markdown", "yml": "yaml", "ipynb": "notebook"}  # fmt: skip


def canonical_languages(languages: tuple[str, ...]) -> tuple[str, ...]:
    """The language labels chunks carry, for names as people type them: any case, a file
    extension (`py`, `.rs`) or a common alias (`golang`, `c++`); an unknown one is an error
    naming the closest labels."""
    from omnivec.ingest.filetypes import CODE_EXTENSIONS, DOC_EXTENSIONS, known_languages

    known = known_languages()
    out, unknown = [], []
    for given in languages:
        name = given.strip().lower()
        label = LANGUAGE_ALIASES.get(name) or (name if name in known else None)
        label = (
            label or CODE_EXTENSIONS.get("." + name.lstrip(".")) or DOC_EXTENSIONS.get("." + name.lstrip("."))
        )
        if label is None:
            unknown.append(given)
        elif label not in out:
            out.append(label)
    if unknown:
        import difflib

        close = sorted(
            {c for u in unknown for c in difflib.get_close_matches(u.lower(), known, n=3, cutoff=0.5)}
        )
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise InputError(
            received=f"language {', '.join(map(repr, unknown))}",
            expected=f"a language omnivec indexes ({len(known)} of them: python, javascript, go, java, rust, "
            "markdown, ...; file extensions such as py or rs work too)",
            fix=f"{hint}`omnivec status` shows what the index holds",
            param="languages",
        )
    return tuple(out)
