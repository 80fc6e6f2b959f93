"""Search over code and images in one store, `--type any`: collections of one query space merged
by score (today) against interleaved by rank (the merge before), same store, same queries.

    python benchmarks/mixed_collections.py [--code-queries 300] [--image-queries 300] [--workdir DIR]

One folder holds the code-docstring-dev functions that answer the first `--code-queries` queries
plus as many others (a .py file each), and every image of image-text-emoji (a .png each). It is
indexed with the defaults (MiniLM for code, ConSE over MiniLM's space for images, no
screenshots), so both collections embed a text query with the same model. Each query (docstring
-> its function, emoji name -> its image) is searched with `type="any"`:

- **one space** (today): `Index.search`, both collections' lists merged by score and fused once;
- **by rank** (before): each collection searched alone (`type="code"`, `type="image"`: the same
  per-collection fusion), then the two lists interleaved by reciprocal rank, as `Searcher` did.

Printed: nDCG@10 and MRR@10 of each query set under each merge, and how often a hit of the
other collection sits in the top 10 (images above code answers, code above emoji answers).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVALSETS, machine, read_jsonl, read_qrels

from omnivec.api import Index
from omnivec.search.fusion import RRF_K, reciprocal_rank_fusion

K = 10


def build_folder(
    folder: Path, code_queries: int, write: bool
) -> tuple[dict[str, str], dict[str, str], list, list]:
    """Write the corpus as files (unless it is there); returns (query id -> relevant path) for
    code and images, and the two query lists."""
    code_dir, emoji = EVALSETS / "code-docstring-dev", EVALSETS / "image-text-emoji"
    qrels = read_qrels(code_dir / "qrels" / "test.tsv")
    queries = [q for q in read_jsonl(code_dir / "queries.jsonl") if q["_id"] in qrels][:code_queries]
    wanted = {next(iter(qrels[q["_id"]])) for q in queries}
    docs = read_jsonl(code_dir / "corpus.jsonl")
    others = [d for d in docs if d["_id"] not in wanted][: len(wanted)]  # as many distractors
    (folder / "code").mkdir(parents=True, exist_ok=True)
    for d in ([d for d in docs if d["_id"] in wanted] + others) if write else ():
        (folder / "code" / f"{d['_id']}.py").write_text(d["text"])
    code_truth = {q["_id"]: f"code/{next(iter(qrels[q['_id']]))}.py" for q in queries}
    (folder / "img").mkdir(exist_ok=True)
    for d in read_jsonl(emoji / "corpus.jsonl") if write else ():
        shutil.copy(emoji / d["image"], folder / "img" / f"{d['_id']}.png")
    eqrels = read_qrels(emoji / "qrels" / "test.tsv")
    equeries = [q for q in read_jsonl(emoji / "queries.jsonl") if q["_id"] in eqrels]
    image_truth = {q["_id"]: f"img/{next(iter(eqrels[q['_id']]))}.png" for q in equeries}
    return code_truth, image_truth, queries, equeries


def scores(ranked: list[str], truth: str) -> tuple[float, float]:
    """(nDCG@10, MRR@10) with one relevant item."""
    if truth not in ranked[:K]:
        return 0.0, 0.0
    rank = ranked.index(truth) + 1
    return 1 / math.log2(rank + 1), 1 / rank


def run(idx: Index, queries: list[dict], truth: dict[str, str], other: str) -> dict[str, dict[str, float]]:
    """Per merge: nDCG@10, MRR@10, and the share of queries with an `other`-folder hit in the top 10."""
    out: dict[str, list[tuple[float, float, bool]]] = {"one space": [], "by rank": []}
    for q in queries:
        text, want = q["text"], truth[q["_id"]]
        today = [h.path for h in idx.search(text, k=K)]
        code = [h.path for h in idx.search(text, k=K * 5, type="code")]
        images = [h.path for h in idx.search(text, k=K * 5, type="image")]
        before = [p for p, _ in reciprocal_rank_fusion([code, images], k=RRF_K)]
        for name, ranked in (("one space", today), ("by rank", before)):
            intruded = any(p is not None and p.startswith(other) for p in ranked[:K])
            out[name].append((*scores([p or "" for p in ranked], want), intruded))
    return {
        name: {
            "ndcg@10": 100 * sum(r[0] for r in rows) / len(rows),
            "mrr@10": 100 * sum(r[1] for r in rows) / len(rows),
            f"with {other} in top 10 (%)": 100 * sum(r[2] for r in rows) / len(rows),
        }
        for name, rows in out.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--code-queries", type=int, default=300)
    ap.add_argument("--image-queries", type=int, default=300)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the folder and store here")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="omnivec-mixed-"))
    folder, store = work / "corpus", work / "store"
    code_truth, image_truth, cq, eq = build_folder(folder, args.code_queries, write=not folder.exists())
    started = time.perf_counter()
    with Index.create(folder, store, screenshot_model=None) as idx:
        report = idx.update()
    print(f"{machine()}; indexed {report.indexed} files ({report.chunks} chunks) in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    with Index.open(store) as idx:
        print(f"collections: {[(c['name'], c['model'], c['chunks']) for c in idx.status()['collections']]}")
        results = {
            f"docstring -> function ({len(cq)})": run(idx, cq, code_truth, "img/"),
            # every n-th: the set runs by emoji group, and its first few hundred are look-alike faces
            f"emoji name -> image ({min(len(eq), args.image_queries)})": run(
                idx, eq[:: max(1, len(eq) // args.image_queries)][: args.image_queries], image_truth, "code/"
            ),
        }
    for task, by_merge in results.items():
        print(f"\n{task}")
        for name, values in by_merge.items():
            print(f"  {name:9}  " + "  ".join(f"{k} {v:6.2f}" for k, v in values.items()))


if __name__ == "__main__":
    main()
