"""Keyword engines side by side on the same chunks and queries: which one the store should use.

    python benchmarks/keyword_engines.py --n 100000,1000000 [--queries 200] [--engines ...]

Corpus: code-docstring-dev's 20,000 real functions analysed by the store's analyser
(`omnivec.search.tokens.DEFAULT_ANALYZER`: identifiers whole and split, English stop words dropped
where they stand alone), tiled to n. Copy 0 is the original; every other copy renames identifiers
consistently with the set's own vocabulary: identifier parts outside the 300 commonest (keywords,
`self`, `return`...) and not stop words are permuted within bands of 64 parts of similar
frequency, and compound identifiers are rebuilt from the renamed parts. So term frequencies keep
their real shape and the vocabulary grows as a large code base's does. Queries: the set's real
docstring queries, same analyser. One thread, one query at a time.

Engines, all fed the same pre-tokenised text:
  fts5-budget   SQLite FTS5 bm25, the path before issue 11: rarest terms until 30k postings (>= 3)
  fts5          SQLite FTS5 bm25, every term (exact FTS5 bm25)
  tantivy       tantivy 0.27, whitespace tokenizer, BM25 (k1 1.2, b 0.75, 1-byte length norms)
  bm25s         bm25s 0.3 (scipy sparse, eager scores), the analyser's k1 1.2, b 0.9: the reference
  omnivec       omnivec.stores.bm25.Bm25Index.search: exact, pruned (MaxScore)
  omnivec-taat  Bm25Index.search_exhaustive: exact, every posting of every query term (the path
                before the pruning)
Exactness: mean top-10 overlap with an exact BM25 of the same tokens and the engine's own
parameters (omnivec, omnivec-taat: bm25s; bm25s: omnivec-taat; tantivy: omnivec-taat at k1 1.2,
b 0.75; the FTS5 budget: FTS5 without it). Identical scores counts the queries whose top-10
scores equal bm25s' to 1e-5 (float32). Update cost: adding 100 documents then deleting 100, until
a search sees it. Memory: bytes of the engine's structures (tantivy, FTS5: their files).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVALSETS, machine, read_jsonl

from omnivec.search.tokens import DEFAULT_ANALYZER, ENGLISH_STOP_WORDS, split_identifier

K = 10


# -- the tiled corpus -------------------------------------------------------------------------


class Tiled:
    """Token strings for n documents: real functions, renamed consistently per copy."""

    def __init__(self, n: int, seed: int = 0) -> None:
        texts = [d["text"] for d in read_jsonl(EVALSETS / "code-docstring-dev" / "corpus.jsonl")]
        self.word_re = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
        self.texts, self.n, self.base = texts, n, len(texts)
        words: dict[str, int] = {}
        self.doc_words = [np.array([words.setdefault(w, len(words)) for w in self.word_re.findall(t)], np.int64)
                          for t in texts]  # fmt: skip
        self.words = list(words)
        self.parts = [split_identifier(w) for w in self.words]
        freq: dict[str, int] = {}
        for ws in self.doc_words:
            for w in ws:
                for p in self.parts[w]:
                    freq[p] = freq.get(p, 0) + 1
        self.ranked = sorted(freq, key=lambda p: -freq[p])
        self.seed = seed

    def mapping(self, c: int) -> dict[str, str]:
        """Identifier part -> its name in copy c (copy 0: itself)."""
        mapping = {p: p for p in self.ranked}
        if c:
            rng = np.random.default_rng([self.seed, c])
            rest = [p for p in self.ranked[300:] if p not in ENGLISH_STOP_WORDS]
            for a in range(0, len(rest), 64):
                band = rest[a : a + 64]
                mapping.update(zip(band, (band[i] for i in rng.permutation(len(band)))))
        return mapping

    def texts_of(self, c: int) -> list[str]:
        """The source texts of copy c, every identifier renamed (compound ones joined by `_`)."""
        if c == 0:
            return list(self.texts)
        mapping, memo = self.mapping(c), {}

        def rename(m: re.Match) -> str:
            w = m.group(0)
            if w not in memo:
                parts = split_identifier(w)
                new = [mapping[p] for p in parts]
                memo[w] = (
                    w if not new or (len(parts) == 1 and parts[0] in ENGLISH_STOP_WORDS) else "_".join(new)
                )
            return memo[w]

        return [self.word_re.sub(rename, t) for t in self.texts]

    def copy(self, c: int) -> list[str]:
        """The documents of copy c, as space-joined tokens."""
        mapping = self.mapping(c)
        toks = []
        for w, parts in zip(self.words, self.parts):
            if c == 0 or (len(parts) == 1 and parts[0] in ENGLISH_STOP_WORDS):
                toks.append(" ".join(DEFAULT_ANALYZER.tokens(w)))
                continue
            new = [mapping[p] for p in parts]
            whole = ["_".join(new)] if len(new) > 1 else ([w.lower()] if not new else [])
            toks.append(" ".join(whole + new))
        arr = np.array(toks, dtype=object)
        return [" ".join(t for t in arr[ws] if t) for ws in self.doc_words]

    def batches(self) -> Iterator[tuple[np.ndarray, list[str]]]:
        """(rowids, token strings) per copy; rowids 1..n."""
        for c in range((self.n + self.base - 1) // self.base):
            docs = self.copy(c)[: self.n - c * self.base]
            yield np.arange(c * self.base, c * self.base + len(docs), dtype=np.int64) + 1, docs


# -- engines ----------------------------------------------------------------------------------


class Omnivec:
    name = "omnivec"

    def __init__(
        self, k1: float = DEFAULT_ANALYZER.k1, b: float = DEFAULT_ANALYZER.b, exhaustive: bool = False
    ) -> None:
        from omnivec.stores.bm25 import Bm25Index

        self.index = Bm25Index(k1=k1, b=b)
        self.exhaustive = exhaustive

    def add(self, rids: np.ndarray, docs: list[str]) -> None:
        self.index.add(rids, [d.split() for d in docs])

    def finish(self) -> None:
        self.index.merge()

    def search(self, tokens: list[str], k: int) -> list[int]:
        fn = self.index.search_exhaustive if self.exhaustive else self.index.search
        return fn(tokens, k)[1].tolist()

    def scores(self, tokens: list[str], k: int) -> np.ndarray:
        return self.index.search(tokens, k)[0]

    def delete(self, rids: np.ndarray) -> None:
        self.index.remove(rids)

    def nbytes(self) -> int:
        arrays = [v for v in vars(self.index).values() if isinstance(v, np.ndarray)]
        return sum(a.nbytes for a in arrays) + sum(len(t) + 90 for t in self.index.vocab)


class Bm25s:
    name = "bm25s"

    def __init__(self) -> None:
        self.docs: list[list[str]] = []
        self.rids: list[int] = []

    def add(self, rids: np.ndarray, docs: list[str]) -> None:
        self.docs.extend(d.split() for d in docs)
        self.rids.extend(rids.tolist())

    def finish(self) -> None:
        import bm25s

        self.index = bm25s.BM25(k1=DEFAULT_ANALYZER.k1, b=DEFAULT_ANALYZER.b)
        self.index.index(self.docs, show_progress=False)
        self.rid_arr = np.asarray(self.rids)

    def search(self, tokens: list[str], k: int) -> list[int]:
        known = [t for t in tokens if t in self.index.vocab_dict]
        if not known:
            self.last = np.empty(0)
            return []
        scores = self.index.get_scores(known)
        top = np.argpartition(-scores, k)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        self.last = scores[top][scores[top] > 0]
        return [int(self.rid_arr[i]) for i in top if scores[i] > 0]

    def delete(self, rids: np.ndarray) -> None:  # no incremental path: rebuild without them
        gone = set(rids.tolist())
        keep = [i for i, r in enumerate(self.rids) if r not in gone]
        self.docs, self.rids = [self.docs[i] for i in keep], [self.rids[i] for i in keep]
        self.finish()

    def nbytes(self) -> int:
        s = self.index.scores
        return sum(s[key].nbytes for key in ("data", "indices", "indptr")) + 90 * len(self.index.vocab_dict)


class Tantivy:
    name = "tantivy"

    def __init__(self, root: Path) -> None:
        import tantivy

        self.t = tantivy
        sb = tantivy.SchemaBuilder()
        sb.add_text_field("t", stored=False, tokenizer_name="whitespace", index_option="freq")
        sb.add_integer_field("rid", stored=True, indexed=True, fast=True)
        self.schema = sb.build()
        self.dir = root / "tantivy"
        self.dir.mkdir()
        self.index = tantivy.Index(self.schema, str(self.dir))
        self.writer = self.index.writer(heap_size=400_000_000, num_threads=1)

    def add(self, rids: np.ndarray, docs: list[str]) -> None:
        for r, d in zip(rids.tolist(), docs):
            self.writer.add_document(self.t.Document(t=d, rid=r))

    def finish(self) -> None:
        self.writer.commit()
        self.writer.wait_merging_threads()
        self.writer = self.index.writer(heap_size=400_000_000, num_threads=1)
        self.index.reload()
        self.searcher = self.index.searcher()

    def search(self, tokens: list[str], k: int) -> list[int]:
        q = self.t.Query
        clauses = [(self.t.Occur.Should, q.term_query(self.schema, "t", t)) for t in tokens]
        hits = self.searcher.search(q.boolean_query(clauses), k).hits
        return [self.searcher.doc(a)["rid"][0] for _, a in hits]

    def delete(self, rids: np.ndarray) -> None:
        for r in rids.tolist():
            self.writer.delete_documents_by_term("rid", r)
        self.finish()

    def nbytes(self) -> int:
        return sum(f.stat().st_size for f in self.dir.iterdir())


class Fts5:
    def __init__(self, root: Path, budget: int | None) -> None:
        self.name = "fts5-budget" if budget else "fts5"
        self.budget = budget
        self.path = root / f"{self.name}.sqlite"
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(
            "CREATE VIRTUAL TABLE fts USING fts5(tokens, tokenize = \"unicode61 tokenchars '_'\")"
        )
        self.conn.execute("CREATE VIRTUAL TABLE fts_vocab USING fts5vocab(fts, 'row')")
        self.df: dict[str, int] = {}

    def add(self, rids: np.ndarray, docs: list[str]) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO fts (rowid, tokens) VALUES (?, ?)", zip(rids.tolist(), docs))
        self.conn.execute("COMMIT")

    def finish(self) -> None:
        self.n = self.conn.execute("SELECT COUNT(*) FROM fts").fetchone()[0]

    def search(self, tokens: list[str], k: int) -> list[int]:
        terms = list(dict.fromkeys(tokens))
        if self.budget:
            for t in terms:
                if t not in self.df:
                    got = self.conn.execute("SELECT doc FROM fts_vocab WHERE term = ?", (t,)).fetchone()
                    self.df[t] = got[0] if got else 0
            rare = [t for t in terms if 2 * self.df[t] < self.n] or [min(terms, key=self.df.__getitem__)]
            kept, used = [], 0
            for t in sorted(rare, key=self.df.__getitem__):
                if len(kept) >= 3 and used + self.df[t] > self.budget:
                    break
                kept.append(t)
                used += self.df[t]
            terms = kept
        match = " OR ".join(f'"{t}"' for t in terms)
        rows = self.conn.execute(
            "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank, rowid LIMIT ?", (match, k)
        )
        return [r for (r,) in rows]

    def delete(self, rids: np.ndarray) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany("DELETE FROM fts WHERE rowid = ?", ((r,) for r in rids.tolist()))
        self.conn.execute("COMMIT")
        self.df.clear()
        self.finish()

    def nbytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.parent.glob(f"{self.name}.sqlite*"))


# -- measuring --------------------------------------------------------------------------------


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, p))


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bm25s_scores(eng: object, tokens: list[str]) -> np.ndarray:
    eng.search(tokens, K)  # type: ignore[attr-defined]
    return getattr(eng, "last", np.empty(0))


def run_size(n: int, queries: list[list[str]], engines: list[str], extra: list[str]) -> None:
    tiled = Tiled(n)
    root = Path(tempfile.mkdtemp(prefix="omnivec-kw-"))
    makers: dict[str, Callable[[], object]] = {
        "omnivec": Omnivec, "bm25s": Bm25s, "tantivy": lambda: Tantivy(root),
        "fts5": lambda: Fts5(root, None), "fts5-budget": lambda: Fts5(root, 30_000),
        "omnivec-taat": lambda: Omnivec(exhaustive=True), "exact-b0.75": lambda: Omnivec(b=0.75, exhaustive=True),
    }  # fmt: skip
    names = engines + [e for e in extra if e not in engines]
    built = {name: makers[name]() for name in names}
    build_s = dict.fromkeys(names, 0.0)
    for rids, docs in tiled.batches():
        for name, eng in built.items():
            build_s[name] += timed(lambda eng=eng, rids=rids, docs=docs: eng.add(rids, docs))  # type: ignore[attr-defined]
    for name, eng in built.items():
        build_s[name] += timed(eng.finish)  # type: ignore[attr-defined]
        gc.collect()
    tops: dict[str, list[list[int]]] = {}
    print(f"\n{n} chunks, {len(queries)} queries; {machine()}; load {os.getloadavg()[0]:.1f}")
    for name in names:
        eng = built[name]
        eng.search(queries[0], K)  # type: ignore[attr-defined]
        lat, tops[name] = [], []
        for q in queries:
            t = time.perf_counter()
            tops[name].append(eng.search(q, K))  # type: ignore[attr-defined]
            lat.append(time.perf_counter() - t)
        built[name].lat = lat  # type: ignore[attr-defined]
    ref = {"omnivec": "bm25s", "omnivec-taat": "bm25s", "bm25s": "omnivec-taat", "tantivy": "exact-b0.75",
           "fts5-budget": "fts5"}  # fmt: skip
    same = {}
    if "bm25s" in built:  # scores, not just rowids: float32 (bm25s) against float64
        for name in ("omnivec", "omnivec-taat"):
            if name in built:
                got = [built[name].index.search(q, K)[0] if name == "omnivec" else  # type: ignore[attr-defined]
                       built[name].index.search_exhaustive(q, K)[0] for q in queries]  # type: ignore[attr-defined]  # fmt: skip
                same[name] = sum(len(g) == len(s) and np.allclose(g, s, rtol=1e-5, atol=0)
                                 for g, s in zip(got, (bm25s_scores(built["bm25s"], q) for q in queries)))  # fmt: skip
    new = tiled.copy(0)[:100]
    print(f"  {'engine':12s} {'p50 ms':>8s} {'p95 ms':>8s} {'top10 vs exact':>15s} {'build s':>8s}"
          f" {'add100 ms':>10s} {'del100 ms':>10s} {'MB':>7s}")  # fmt: skip
    for name in engines:
        eng = built[name]
        overlap = "-"
        if ref.get(name) in tops:
            r = tops[ref[name]]
            overlap = f"{np.mean([len(set(a) & set(b)) / max(len(b), 1) for a, b in zip(tops[name], r)]):.4f}"
        mb = eng.nbytes() / 2**20  # type: ignore[attr-defined]
        rids = np.arange(n + 1, n + 101, dtype=np.int64)
        if name == "bm25s" and n > 200_000:  # no incremental path: two full rebuilds, many minutes
            print(f"  {name:12s} {pct(eng.lat, 50):8.2f} {pct(eng.lat, 95):8.2f} {'reference':>15s}"  # type: ignore[attr-defined]
                  f" {build_s[name]:8.1f} {'rebuild':>10s} {'rebuild':>10s} {eng.nbytes() / 2**20:7.0f}", flush=True)  # type: ignore[attr-defined]  # fmt: skip
            continue
        add = timed(lambda eng=eng, rids=rids, name=name: (
            eng.add(rids, new), eng.finish() if not name.startswith("omnivec") else None, eng.search(queries[0], K)))  # type: ignore[attr-defined]  # fmt: skip
        dele = timed(lambda eng=eng, rids=rids: (eng.delete(rids), eng.search(queries[0], K)))  # type: ignore[attr-defined]
        lat = eng.lat  # type: ignore[attr-defined]
        print(f"  {name:12s} {pct(lat, 50):8.2f} {pct(lat, 95):8.2f} {overlap:>15s} {build_s[name]:8.1f}"
              f" {add * 1000:10.1f} {dele * 1000:10.1f} {mb:7.0f}", flush=True)  # fmt: skip
    for name, count in same.items():
        print(f"  {name}: top-10 scores equal to bm25s' (rtol 1e-5) on {count} of {len(queries)} queries")
    del built
    gc.collect()
    import shutil

    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", default="100000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--engines", default="fts5-budget,tantivy,bm25s,omnivec-taat,omnivec")
    args = ap.parse_args()
    queries = [
        DEFAULT_ANALYZER.tokens(q["text"])
        for q in read_jsonl(EVALSETS / "code-docstring-dev" / "queries.jsonl")
    ]
    queries = [q for q in queries if q][: args.queries]
    engines = args.engines.split(",")
    extra = ["exact-b0.75"] if "tantivy" in engines else []
    extra += [e for e in ("bm25s", "omnivec-taat", "fts5") if e not in engines and
              any({"bm25s": "omnivec", "omnivec-taat": "bm25s", "fts5": "fts5-budget"}.get(e) == x for x in engines)]  # fmt: skip
    for n in map(int, args.n.split(",")):
        run_size(n, queries, engines, extra)


if __name__ == "__main__":
    main()
