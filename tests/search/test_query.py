"""`Query` checks itself on construction: every bad value is refused with what was received."""

from __future__ import annotations

import pytest

from omnivec.errors import InputError
from omnivec.kinds import CHUNK_KINDS, FILE_CHUNK_KIND, SEARCH_TYPES, collection_of, kinds_for_type
from omnivec.search.query import Query


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"text": "  "}, "an empty query"),
        ({"mode": "banana"}, "mode 'banana'"),
        ({"type": "video"}, "type 'video'"),
        ({"k": -1}, "k = -1"),
        ({"k": 0}, "k = 0"),
        ({"k": 5000}, "k = 5000"),
        ({"k": True}, "k = True"),
        ({"weights": {"dense": 1.0, "bm25": 2.0}}, "'bm25'"),
        ({"weights": {"dense": 1.0, "keyword": float("nan")}}, "keyword weight nan"),
        ({"weights": {"dense": -1.0}}, "dense weight -1.0"),
        ({"weights": {"dense": 0.0, "keyword": 0}}, "every fusion weight 0"),
        ({"path_glob": "src/[ab*.py"}, "unclosed '['"),
        ({"path_glob": ""}, "an empty path glob"),
        ({"languages": ("python", "klingon")}, "language 'klingon'"),
    ],
)
def test_bad_values_are_refused_with_what_was_received(kw, says):
    args = {"text": "parse a config file", **kw}
    with pytest.raises(InputError) as err:
        Query(**args)
    assert says in str(err.value) and "expected" in str(err.value)


def test_keyword_mode_needs_text():
    with pytest.raises(InputError, match="keyword search without query text"):
        Query(image="x.png", mode="keyword")
    assert Query(image="x.png", mode="dense").image == "x.png"


def test_a_good_query_builds_its_filter():
    q = Query("stack", type="doc", languages=("python",), path_glob="src/[ab]*.py", weights={"keyword": 0.5})
    flt = q.filter()
    assert flt.kinds == ("doc", "page") and flt.languages == ("python",)
    assert q.weight("keyword") == 0.5 and q.weight("dense") == 1.0


def test_one_table_of_kinds():
    assert kinds_for_type("any") == ()
    for t in SEARCH_TYPES[1:]:
        assert kinds_for_type(t), f"--type {t} selects nothing"
    assert set(FILE_CHUNK_KIND.values()) <= set(CHUNK_KINDS)
    assert kinds_for_type("screenshot") == ("page", "screenshot")
    assert {collection_of(k) for k in CHUNK_KINDS} == {"text", "image", "screenshot"}
    with pytest.raises(InputError, match="chunk kind 'video'"):
        collection_of("video")


def test_languages_are_taken_as_people_type_them():
    q = Query("x", languages=("Go", "js", "py", ".rs", "md", "golang", "C++", "Python"))
    assert q.languages == ("go", "javascript", "python", "rust", "markdown", "cpp")
    assert q.filter().languages == q.languages
    with pytest.raises(InputError, match="did you mean python") as info:
        Query("x", languages=("pyhton",))
    assert info.value.param == "languages"


def test_a_query_of_another_type_is_refused_and_one_language_may_be_bare():
    for bad in (123, ["a", "b"]):
        with pytest.raises(InputError, match="query text of type") as info:
            Query(bad)  # type: ignore[arg-type]
        assert info.value.param == "text"
    assert Query("x", languages="python").languages == ("python",)  # type: ignore[arg-type]
