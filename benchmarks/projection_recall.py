"""Does `ivf-sq8-proj`'s projection keep real queries' nearest documents? (issue 11)

    python benchmarks/projection_recall.py [--sets code-docstring-dev code-to-code-dev ...]
        [--cache FILE] [--energies 0.8,0.85,0.9]

`dense_params.py --proj` measures the projected codes on synthetic vectors with the spectrum of
sentence embeddings. This checks the one assumption that data cannot: that real *queries* lean on
the directions the *documents'* second moment ranks first. For each dev set, the bundled MiniLM
embeds the corpus and the real queries (an embedding cache makes reruns fast); the projection is
`projected_codes.leading_directions` of the documents at each energy; printed is the share of each
query's exact top k (k = 10 and 100) found inside the top c by projected inner product, for c as
the store re-scores (max(3k, k + extra)) and wider. No IVF and no 8-bit rounding: this is the
projection's own loss, exhaustive, on top of which the store's lists lose what they lose anyway.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVALSETS

CANDIDATES = {10: (100, 200, 300), 100: (300, 400, 600)}


def vectors(name: str, cache: str) -> tuple[np.ndarray, np.ndarray]:
    from omnivec.encoders.cache import EmbeddingCache
    from omnivec.encoders.registry import load_encoder
    from omnivec.evaluate.data import load_beir

    data = load_beir(EVALSETS / name)
    enc, store = load_encoder("minilm"), EmbeddingCache(cache)
    docs = [r.item("text") for r in data.corpus]
    queries = [r.item("text") for r in data.queries]
    d = enc.embed([x for x in docs if x is not None], role="document", cache=store).vectors
    q = enc.embed([x for x in queries if x is not None], role="query", cache=store).vectors
    return np.asarray(d, dtype=np.float32), np.asarray(q, dtype=np.float32)


def inside(exact: np.ndarray, approx: np.ndarray, c: int) -> float:
    """Mean share of each row of `exact` (top-k ids) among the top c columns of `approx`."""
    top = np.argpartition(-approx, c, axis=1)[:, :c]
    return float(np.mean([len(set(e) & set(t)) / len(e) for e, t in zip(exact, top, strict=True)]))


def main() -> None:
    from omnivec.stores.projected_codes import PROJ_ENERGY, leading_directions, project

    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--sets", nargs="+", default=["code-docstring-dev", "code-to-code-dev", "code-docstring-js-dev"]
    )
    ap.add_argument("--cache", default=None, help="embedding cache (default: a fresh temporary one)")
    ap.add_argument("--energies", default=f"0.8,{PROJ_ENERGY},0.9")
    args = ap.parse_args()
    cache = args.cache or str(Path(tempfile.mkdtemp(prefix="omnivec-proj-")) / "cache.sqlite")
    energies = sorted({float(e) for e in args.energies.split(",")})
    print(f"store default energy {PROJ_ENERGY}")
    for name in args.sets:
        docs, queries = vectors(name, cache)
        full = queries @ docs.T
        exact = {k: np.argsort(-full, axis=1)[:, :k] for k in CANDIDATES}
        print(f"{name}: {len(docs)} documents, {len(queries)} queries", flush=True)
        for energy in energies:
            p = leading_directions(docs, energy)
            approx = project(queries, p) @ project(docs, p).T
            cells = [
                f"top {k} in top {c}: {inside(exact[k], approx, c):.3f}"
                for k, cs in CANDIDATES.items()
                for c in cs
                if c < len(docs)
            ]
            print(
                f"  energy {energy:.2f} ({p.shape[1]} of {docs.shape[1]} directions): " + ", ".join(cells),
                flush=True,
            )


if __name__ == "__main__":
    main()
