"""Keyword search for `MilvusStore`: Milvus full-text BM25 where the server has it, else a scan.

Both paths index omnivec's code-aware tokens (`omnivec.search.tokens.DEFAULT_ANALYZER`, only
[a-z0-9_]) joined by single spaces, so they agree with the local store on what a word is.

- `milvus-bm25` (Milvus >= 2.5; Milvus Lite only with `keyword=bm25`): a BM25 function turns `kw`
  into a sparse vector inside Milvus; a query is one sparse search, filtered by the same
  expression as dense search. The index is built with the analyser's k1 and b
  (`bm25_index_params`), not Milvus's defaults. Milvus Lite 3.2 keeps its statistics per sealed
  segment, so there scores drift from the local store's after flushes.
- `omnivec-scan` (Milvus Lite by default; older servers such as the 2.3 standalone on PyPI):
  each row also keeps its distinct terms in an array; the rows where `array_contains_any(terms,
  query terms)` are read back in one query, and omnivec scores them with the same BM25 formula
  (the analyser's k1 and b; document frequencies counted in those rows, the average length from
  the ledger). Exact, but a query reads every candidate row back: fine to a few hundred thousand
  chunks, not beyond (docs/scaling.md).

On both paths a query term given twice counts twice, as in bm25s and the local store's index.
Scores carry Milvus's (k1 + 1) factor, which bm25s leaves out: the same ranking, scaled.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from omnivec.search.tokens import DEFAULT_ANALYZER
from omnivec.stores.milvus_expr import and_all, quote
from omnivec.stores.milvus_schema import MAX_TERM, MAX_TERMS, MAX_VARCHAR, fit_utf8

BM25 = "milvus-bm25"
SCAN = "omnivec-scan"
K1, B = DEFAULT_ANALYZER.k1, DEFAULT_ANALYZER.b
ANALYSER_ID = DEFAULT_ANALYZER.id  # recorded per collection: what its `kw` tokens and k1/b came from
SCAN_BATCH = 4096


def kw_fields(text: str, engine: str) -> dict[str, Any]:
    """The keyword columns of a row. Tokens past Milvus's 64 KB field limit are dropped."""
    tokens = DEFAULT_ANALYZER.tokens(text)
    joined = " ".join(tokens)
    if len(joined.encode()) > MAX_VARCHAR:  # Milvus limits are in UTF-8 bytes; tokens need not be ASCII
        joined = fit_utf8(joined, MAX_VARCHAR).rsplit(" ", 1)[0]
        tokens = joined.split(" ")
    out: dict[str, Any] = {"kw": joined, "kw_len": len(tokens)}
    if engine == SCAN:
        out["terms"] = [fit_utf8(t, MAX_TERM) for t in dict.fromkeys(tokens)][:MAX_TERMS]
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
    query: Callable[[str, str, list[str]], Iterable[dict[str, Any]]],
) -> list[tuple[str, float]]:
    """BM25 over the rows holding any term (and matching `expr`), scored here; a term's weight
    is its idf times its count in the query.

    One read of every row holding a query term gives both the candidates and each term's
    document frequency (a row holds a term exactly when it is among them), instead of one count
    per term: on Milvus Lite each count is a round trip of ~0.1-1 s. A filter costs one more
    read, of ids only."""
    times = Counter(terms)
    any_term = f"array_contains_any(terms, {_list(list(times))})"
    rows = list(query(mname, any_term, ["id", "kw", "kw_len", "terms"]))
    if not rows:
        return []
    n_docs = _count(client, mname, "")
    df = Counter(t for row in rows for t in set(row["terms"]) if t in times)
    weight = {t: n * math.log(1 + (n_docs - df[t] + 0.5) / (df[t] + 0.5)) for t, n in times.items()}
    keep = {str(r["id"]) for r in query(mname, and_all(expr, any_term), ["id"])} if expr else None
    scored: list[tuple[float, str]] = []
    for row in rows:
        if keep is not None and str(row["id"]) not in keep:
            continue
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


def _list(terms: list[str]) -> str:
    return "[" + ", ".join(quote(t) for t in terms) + "]"


def _count(client: Any, mname: str, expr: str) -> int:
    rows = client.query(mname, filter=expr, output_fields=["count(*)"], consistency_level="Strong")
    return int(rows[0]["count(*)"])
