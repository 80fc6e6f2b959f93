"""The keyword analyser: code-aware words, English stop words, and the BM25 parameters it was
tuned with. One `Analyzer` serves the keyword index and the BM25 evaluator, so what is measured is
what is searched.

Identifiers are kept whole and also split on snake_case, camelCase and digits, so `parseHTTPResponse`
matches queries for "parse http response" and for the identifier itself. A stop word (an English
function word such as "the", "of", "a"; words that name things in code, such as "return", are not
on the list) is dropped when it stands alone, never when it is a part of a compound identifier
(`get_the_value` keeps `the`), so prose queries lose their noise and code keeps its names.

Words in any script count: text that is not ASCII is NFKC-normalised and case-folded
(full-width letters are ASCII ones, `STRASSE` matches `Straße`), letters with accents or combining
marks stay inside their word (`résumé`, `हिन्दी`), and Chinese, Japanese and Korean runs, written
without spaces between words, become overlapping character pairs (`数据库连接` -> `数据 据库 库连
连接`), as Lucene's CJK analyser does. ASCII text takes a faster path with the same result.

>>> analyze("Return the parsed HTTPResponse of a request")
['return', 'parsed', 'httpresponse', 'http', 'response', 'request']
>>> DEFAULT_ANALYZER.id
'omnivec-code-3:en:whole:k1=1.2:b=0.9'
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# The same two patterns for any script (on ASCII they find what the two above find). A mark
# (accent, vowel sign) belongs to the letter before it; CJK runs are a part of their own.
_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\u30fc"  # U+30FC: the katakana long-vowel mark
_UPPER, _LOWER = r"(?:[\p{Lu}\p{Lt}]\p{M}*)", r"(?:[\p{Ll}\p{Lm}]\p{M}*)"


@dataclass(frozen=True)
class _AnyScript:
    word: Any
    part: Any
    cjk_run: Any


@functools.cache
def _any_script() -> _AnyScript:
    """The patterns for text that is not ASCII, compiled on first need: `regex` (for Unicode
    properties) costs ~25 ms to import, which a cold keyword search over ASCII code never pays."""
    import regex

    return _AnyScript(
        word=regex.compile(r"[\p{L}_][\p{L}\p{M}\p{Nd}_]*|\p{Nd}+"),
        part=regex.compile(
            rf"(?P<cjk>[{_CJK}]+)|{_UPPER}+(?={_UPPER}{_LOWER})|{_UPPER}?{_LOWER}+|{_UPPER}+"
            rf"|(?:(?![{_CJK}])\p{{Lo}}\p{{M}}*)+|\p{{Nd}}+"
        ),
        cjk_run=regex.compile(rf"[{_CJK}]+"),
    )


ANALYZER_VERSION = "omnivec-code-3"  # bump when the tokens of a text change: indexes must be rebuilt

#: English function words (articles, pronouns, auxiliaries, prepositions, conjunctions, common
#: adverbs): NLTK's list without the contraction fragments ("don", "ll", "ve"), which never stand
#: alone in a query and are real names in code.
ENGLISH_STOP_WORDS: frozenset[str] = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves""".split()  # noqa: SIM905
)

STOP_WORD_LISTS: dict[str, frozenset[str]] = {"en": ENGLISH_STOP_WORDS, "none": frozenset()}


def split_identifier(word: str) -> list[str]:
    """`parseHTTPResponse_v2` -> ['parse', 'http', 'response', 'v', '2'] (lower case); a CJK run
    gives its character pairs (one character stands alone)."""
    if word.isascii():
        return [p.lower() for piece in word.split("_") for p in _PART.findall(piece)]
    parts: list[str] = []
    for piece in word.split("_"):
        for match in _any_script().part.finditer(piece):
            part = match.group()
            if match.group("cjk") and len(part) > 1:
                parts.extend(part[i : i + 2] for i in range(len(part) - 1))
            else:
                parts.append(part.casefold())
    return parts


def _is_cjk_run(word: str) -> bool:
    return not word.isascii() and _any_script().cjk_run.fullmatch(word) is not None


def code_tokens(text: str, keep_whole: bool = True, stop_words: frozenset[str] = frozenset()) -> list[str]:
    """Lower-cased tokens: each identifier whole (when compound) plus its parts; a word of one
    part that is in `stop_words` is dropped (parts of compound identifiers are always kept)."""
    out: list[str] = []
    terms = _word_terms
    words = (
        _WORD.findall(text)
        if text.isascii()
        else _any_script().word.findall(unicodedata.normalize("NFKC", text))
    )
    for word in words:
        out.extend(terms(word, keep_whole, stop_words))
    return out


@functools.lru_cache(maxsize=1 << 17)
def _word_terms(word: str, keep_whole: bool, stop_words: frozenset[str]) -> tuple[str, ...]:
    """The terms of one word. Cached: code repeats its names, and splitting each occurrence anew
    was the largest part of keyword indexing (a frozenset caches its own hash, so keys are cheap)."""
    parts = split_identifier(word)
    if len(parts) == 1 and parts[0] in stop_words:
        return ()
    if keep_whole and (len(parts) > 1 or not parts) and not _is_cjk_run(word):
        return (word.casefold(), *parts)  # a CJK run is a phrase, not a name: its pairs suffice
    return tuple(parts)


@dataclass(frozen=True)
class Analyzer:
    """Text -> BM25 terms, with the BM25 parameters (Lucene variant) chosen for these terms.

    `stop_words` is a list name (`"en"`, `"none"`) or the words themselves; `keep_whole` keeps
    compound identifiers as a term beside their parts. `id` names every setting, so an index
    built with one analyser is never queried with another. Measured on the dev sets
    (docs/results.md): English stop words and whole identifiers, k1 = 1.2, b = 0.9.

    >>> Analyzer(stop_words="none").tokens("the maxValue")
    ['the', 'maxvalue', 'max', 'value']
    >>> Analyzer(stop_words=["max"]).id
    'omnivec-code-3:custom-...:whole:k1=1.2:b=0.9'
    """

    stop_words: str | Iterable[str] = "en"
    keep_whole: bool = True
    k1: float = 1.2
    b: float = 0.9
    _stops: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from omnivec.errors import InputError

        if isinstance(self.stop_words, str):
            if self.stop_words not in STOP_WORD_LISTS:
                raise InputError(
                    received=f"stop-word list {self.stop_words!r}",
                    expected=f"one of {', '.join(STOP_WORD_LISTS)}, or the words themselves",
                    fix="pass stop_words='en' (the default), 'none', or a list of words",
                )
            stops = STOP_WORD_LISTS[self.stop_words]
        else:
            stops = frozenset(w.lower() for w in self.stop_words)
            object.__setattr__(self, "stop_words", tuple(sorted(stops)))  # hashable, stable
        if not (self.k1 >= 0 and 0 <= self.b <= 1):
            raise InputError(f"k1={self.k1}, b={self.b}", "k1 >= 0 and b in [0, 1]", "pass k1=1.2, b=0.9")
        object.__setattr__(self, "_stops", stops)

    def tokens(self, text: str) -> list[str]:
        """The terms of `text`, in order, repeats kept (documents and queries alike)."""
        return code_tokens(text, self.keep_whole, self._stops)

    @property
    def stop_list(self) -> str:
        """`en`, `none`, or `custom-<hash>` for a list given word by word."""
        if isinstance(self.stop_words, str):
            return self.stop_words
        digest = hashlib.blake2b(" ".join(sorted(self._stops)).encode(), digest_size=4).hexdigest()
        return f"custom-{digest}"

    @property
    def id(self) -> str:
        """Every setting in one string, e.g. `omnivec-code-3:en:whole:k1=1.2:b=0.9`."""
        whole = "whole" if self.keep_whole else "parts"
        return f"{ANALYZER_VERSION}:{self.stop_list}:{whole}:k1={self.k1:g}:b={self.b:g}"

    def describe(self) -> dict[str, Any]:
        """JSON-ready settings, for result files and store metadata."""
        return {
            "analyzer": self.id, "version": ANALYZER_VERSION, "stop_words": self.stop_list,
            "stop_word_count": len(self._stops), "keep_whole_identifiers": self.keep_whole,
            "k1": self.k1, "b": self.b, "bm25_variant": "lucene",
        }  # fmt: skip


DEFAULT_ANALYZER = Analyzer()


def analyze(text: str) -> list[str]:
    """The default analyser's terms: what the keyword index stores and what queries look up."""
    return DEFAULT_ANALYZER.tokens(text)
