"""Keyword search for `MilvusStore`: Milvus full-text BM25 where the server has it, else a scan.

Both paths index omnivec's code-aware tokens (`omnivec.search.tokens.DEFAULT_ANALYZER`, only
[a-z0-9_]) joined by single spaces, so they agree with the local store on what a word is.

- `milvus-bm25` (Milvus >= 2.5, Milvus Lite): a BM25 function turns `kw` into a sparse vector
  inside Milvus; a query is one sparse search, filtered by the same expression as dense search.
  The index is built with the analyser's k1 and b (`bm25_index_params`), not Milvus's defaults.
- `omnivec-scan` (older servers such as the 2.3 standalone on PyPI): each row also keeps its
  distinct terms in an array; candidates are the rows where `array_contains_any(terms, query
  terms)`, and omnivec scores them with the same BM25 formula (the analyser's k1 and b; IDF from per-term
  counts, the average length from the ledger). Exact, but a query reads every candidate row
  back: fine to a few hundred thousand chunks, not beyond (docs/scaling.md).

On both paths a query term given twice counts twice, as in bm25s and the local store's index.
Scores carry Milvus's (k1 + 1) factor, which bm25s leaves out: the same ranking, scaled.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from omnivec.search.tokens import DEFAULT_ANALYZER
from omnivec.stores.milvus_expr import and_all, quote
from omnivec.stores.milvus_schema import MAX_TERM, MAX_TERMS, MAX_VARCHAR

BM25 = "milvus-bm25"
SCAN = "omnivec-scan"
K1, B = DEFAULT_ANALYZER.k1, DEFAULT_ANALYZER.b
ANALYSER_ID = DEFAULT_ANALYZER.id  # recorded per collection: what its `kw` tokens and k1/b came from
SCAN_BATCH = 4096


def kw_fields(text: str, engine: str) -> dict[str, Any]:
    """The keyword columns of a row. Tokens past Milvus's 64 KB field limit are dropped."""
    tokens = DEFAULT_ANALYZER.tokens(text)
    joined = " ".join(tokens)
    if len(joined) > MAX_VARCHAR:  # tokens are ASCII: characters are bytes
        joined = joined[:MAX_VARCHAR].rsplit(" ", 1)[0]
        tokens = joined.split(" ")
    out: dict[str, Any] = {"kw": joined, "kw_len": len(tokens)}
    if engine == SCAN:
        out["terms"] = [t[:MAX_TERM] for t in dict.fromkeys(tokens)][:MAX_TERMS]
    return out


def query_terms(query: str) -> list[str]:
    """The query's tokens in order, repeats kept (a repeated term weighs more, as in bm25s)."""
    return DEFAULT_ANALYZER.tokens(query)


def bm25_index_params(lite: bool) -> dict[str, Any]:
    """Build parameters of the sparse index: the analyser's k1 and b, so Milvus ranks like the
    local store. Milvus Lite reads them only from a nested `params` JSON value (the older wire
    form): pymilvus >= 2.5 flattens `params={...}` into top-level keys, which Lite ignores."""
    tuning = {"bm25_k1": K1, "bm25_b": B}
    return {"params": tuning} if lite else tuning


def bm25_search(client: Any, mname: str, terms: list[str], k: int, expr: str) -> list[tuple[str, float]]:
    """One sparse search; Milvus Lite reports BM25 as a negative distance, servers as positive.
    Milvus weighs each query term by its count in the query text, so repeats are kept."""
    res = client.search(
        mname, data=[" ".join(terms)], anns_field="sparse", limit=k, filter=expr,
        output_fields=["id"], search_params={"metric_type": "BM25"}, consistency_level="Strong",
    )  # fmt: skip
    return [(str(h["id"]), abs(float(h["distance"]))) for h in res[0]]


def scan_search(
    client: Any,
    mname: str,
    terms: list[str],
    k: int,
    expr: str,
    avgdl: float,
    iterate: Callable[[str, str, list[str]], Iterator[dict[str, Any]]],
) -> list[tuple[str, float]]:
    """BM25 over the rows holding any term (and matching `expr`), scored here; a term's weight
    is its idf times its count in the query."""
    n_docs = _count(client, mname, "")
    if n_docs == 0:
        return []
    weight = {}
    for t, times in Counter(terms).items():
        df = _count(client, mname, _has(t))
        weight[t] = times * math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    any_term = f"array_contains_any(terms, {_list(list(weight))})"
    scored: list[tuple[float, str]] = []
    for row in iterate(mname, and_all(expr, any_term), ["id", "kw", "kw_len"]):
        words = row["kw"].split()
        dl = max(int(row["kw_len"]), 1)
        score = 0.0
        for t, w in weight.items():
            tf = words.count(t)
            if tf:
                score += w * tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / max(avgdl, 1e-9)))
        if score > 0:
            scored.append((score, str(row["id"])))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [(i, s) for s, i in scored[:k]]


def _has(term: str) -> str:
    return f"array_contains(terms, {quote(term)})"


def _list(terms: list[str]) -> str:
    return "[" + ", ".join(quote(t) for t in terms) + "]"


def _count(client: Any, mname: str, expr: str) -> int:
    rows = client.query(mname, filter=expr, output_fields=["count(*)"], consistency_level="Strong")
    return int(rows[0]["count(*)"])
