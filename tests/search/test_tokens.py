"""The keyword analyser: identifiers whole and split, stop words only where they stand alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnivec.errors import InputError
from omnivec.search.tokens import (
    DEFAULT_ANALYZER,
    ENGLISH_STOP_WORDS,
    Analyzer,
    analyze,
    code_tokens,
    split_identifier,
)


def test_identifiers_are_kept_whole_and_split() -> None:
    assert split_identifier("parseHTTPResponse_v2") == ["parse", "http", "response", "v", "2"]
    assert code_tokens("parseHTTPResponse") == ["parsehttpresponse", "parse", "http", "response"]
    assert code_tokens("x = load_json(path)") == ["x", "load_json", "load", "json", "path"]


def test_stop_words_drop_lone_function_words_only() -> None:
    assert analyze("Return the value of a key") == ["return", "value", "key"]
    # parts of a compound identifier are kept: `get_the_value` is a name, not prose
    assert analyze("get_the_value") == ["get_the_value", "get", "the", "value"]
    assert analyze("isNotEmpty") == ["isnotempty", "is", "not", "empty"]
    # case does not matter, and a query of stop words only has no terms
    assert analyze("The OF and") == []


def test_stop_words_can_be_turned_off_or_replaced() -> None:
    assert Analyzer(stop_words="none").tokens("the key") == ["the", "key"]
    custom = Analyzer(stop_words=["Key", "value"])
    assert custom.tokens("the Key value pair") == ["the", "pair"]
    assert custom.stop_list.startswith("custom-")
    assert Analyzer(stop_words=["value", "key"]).id == custom.id  # order and case do not matter
    assert Analyzer(stop_words=["other"]).id != custom.id


def test_parts_only_analyser() -> None:
    assert Analyzer(keep_whole=False).tokens("parseHTTP") == ["parse", "http"]


def test_the_id_names_every_setting() -> None:
    assert DEFAULT_ANALYZER.id == "omnivec-code-3:en:whole:k1=1.2:b=0.9"
    assert Analyzer(stop_words="none", keep_whole=False, k1=1.5, b=0.75).id == (
        "omnivec-code-3:none:parts:k1=1.5:b=0.75"
    )
    d = DEFAULT_ANALYZER.describe()
    assert d["analyzer"] == DEFAULT_ANALYZER.id and d["k1"] == 1.2 and d["b"] == 0.9
    assert d["stop_word_count"] == len(ENGLISH_STOP_WORDS) and d["keep_whole_identifiers"] is True


def test_the_english_list_is_function_words() -> None:
    assert {"the", "of", "a", "and", "is", "to", "with"} <= ENGLISH_STOP_WORDS
    # words that name things in code are never stop words
    assert not {"return", "get", "set", "value", "list", "file", "key", "error"} & ENGLISH_STOP_WORDS
    assert all(w.isalpha() and w.islower() for w in ENGLISH_STOP_WORDS)


@pytest.mark.parametrize("kwargs", [{"stop_words": "klingon"}, {"k1": -1.0}, {"b": 1.5}])
def test_bad_settings_say_what_is_accepted(kwargs: dict) -> None:
    with pytest.raises(InputError):
        Analyzer(**kwargs)


def test_analyzers_are_hashable_and_compare_by_settings() -> None:
    assert Analyzer() == DEFAULT_ANALYZER
    assert len({Analyzer(), Analyzer(), Analyzer(stop_words=["a"])}) == 2


def test_words_in_any_script_stay_whole() -> None:
    # accents and combining marks belong to their word, not split it (`résumé` was `r` + `sum`)
    assert analyze("résumé naïveBayes") == ["résumé", "naïvebayes", "naïve", "bayes"]
    assert analyze("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # Devanagari vowel signs are marks
    # case splits in Cyrillic too
    assert analyze("parseСтроку") == ["parseстроку", "parse", "строку"]  # noqa: RUF001
    # NFKC and case folding: full-width letters, ligatures, superscripts, German sharp s
    assert analyze("Ｆｏｏ ﬁle x²") == ["foo", "file", "x2", "x", "2"]  # noqa: RUF001
    assert analyze("STRASSE") == analyze("Straße") == ["strasse"]


def test_cjk_runs_become_character_pairs() -> None:
    assert analyze("数据库连接") == ["数据", "据库", "库连", "连接"]
    assert analyze("データベース") == ["デー", "ータ", "タベ", "ベー", "ース"]  # the long-vowel mark included
    assert analyze("한국어 텍스트") == ["한국", "국어", "텍스", "스트"]
    assert analyze("库") == ["库"]
    # an identifier that mixes scripts is kept whole too, as ASCII compounds are
    assert analyze("get用户名") == ["get用户名", "get", "用户", "户名"]
    # a query shares pairs with the text it is part of
    assert set(analyze("连接数据库")) & set(analyze("数据库连接池"))


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=80))
def test_ascii_text_gets_the_same_terms_on_either_path(text: str) -> None:
    # a non-ASCII word at the end sends the text down the any-script path
    assert code_tokens(text + " ü") == [*code_tokens(text), "ü"]


def test_ascii_text_never_imports_the_unicode_patterns() -> None:
    """`regex` costs ~25 ms to import: a cold keyword search over ASCII code does not pay it."""
    import subprocess
    import sys

    probe = (
        "import sys; from omnivec.search.tokens import analyze; analyze('parseHTTPResponse load_json');"
        "assert 'regex' not in sys.modules; analyze('résumé'); assert 'regex' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)
