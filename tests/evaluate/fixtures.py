"""Tiny data sets written in each benchmark's own row format (no downloads)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

DOCS = {
    "d1": "def add(a, b): return a + b",
    "d2": "def read_file(path): return open(path).read()",
    "d3": "def parse_json(text): return json.loads(text)",
    "d4": "def sort_list(items): return sorted(items)",
    "d5": "def http_get(url): return requests.get(url)",
    "d6": "def square(x): return x * x",
    "d7": "def reverse_string(s): return s[::-1]",
    "d8": "def count_words(text): return len(text.split())",
}
QUERIES = {
    "q1": "add two numbers a and b",
    "q2": "read a file from a path",
    "q3": "parse json text",
    "q4": "sort the items of a list",
    "q5": "send an http get request to a url",
    "q6": "count words in text",
}
QRELS = {
    "q1": {"d1": 1},
    "q2": {"d2": 1},
    "q3": {"d3": 1},
    "q4": {"d4": 1},
    "q5": {"d5": 1},
    "q6": {"d8": 1, "d3": 0},
}


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_qrels_tsv(path: Path, qrels: Mapping[str, Mapping[str, int]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["query-id\tcorpus-id\tscore"] + [
        f"{q}\t{d}\t{s}" for q, ds in qrels.items() for d, s in ds.items()
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def beir_folder(root: Path, extra_query: bool = True) -> Path:
    """A BEIR folder: 8 functions, 6 judged queries, one unjudged query that must be ignored."""
    write_jsonl(root / "corpus.jsonl", ({"_id": k, "title": "", "text": v} for k, v in DOCS.items()))
    queries = dict(QUERIES, q_unjudged="square a number") if extra_query else QUERIES
    write_jsonl(root / "queries.jsonl", ({"_id": k, "text": v} for k, v in queries.items()))
    write_qrels_tsv(root / "qrels" / "test.tsv", QRELS)
    return root


def image_beir_folder(root: Path) -> Path:
    """Image records: documents are images (one with a caption), queries are images too."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    for name in ("a", "b", "c"):
        (images / f"{name}.png").write_bytes(f"not really a png: {name}".encode())
    write_jsonl(
        root / "corpus.jsonl",
        [{"_id": "ia", "image": "images/a.png"}, {"_id": "ib", "image": "images/b.png", "text": "bee"},
         {"_id": "ic", "image": "images/c.png"}],
    )  # fmt: skip
    write_jsonl(
        root / "queries.jsonl",
        [{"_id": "qa", "image": "images/a.png"}, {"_id": "qc", "image": "images/c.png"}],
    )
    write_qrels_tsv(root / "qrels" / "test.tsv", {"qa": {"ia": 1}, "qc": {"ic": 1}})
    return root


def coir_folder(root: Path, with_self_hit: bool = False) -> Path:
    """CoIR rows: corpus/queries as the hub's splits, qrels as `query_id, corpus_id, score` rows."""
    corpus = [
        {"_id": k, "title": f"t{k}", "text": v, "partition": "test", "language": "python"}
        for k, v in DOCS.items()
    ]
    if with_self_hit:  # a document sharing its id (and text) with a query, as in CodeSearchNet-ccr
        corpus.append({"_id": "q1", "title": "", "text": QUERIES["q1"]})
    write_jsonl(root / "corpus.jsonl", corpus)
    write_jsonl(
        root / "queries.jsonl", [{"_id": k, "text": v, "partition": "test"} for k, v in QUERIES.items()]
    )
    rows = [{"query_id": q, "corpus_id": d, "score": s} for q, ds in QRELS.items() for d, s in ds.items()]
    write_jsonl(root / "qrels" / "test.jsonl", rows)
    return root


def mmeb_file(root: Path, task: str = "CIRR") -> Path:
    """MMEB rows (gold first) plus an images folder."""
    images = root / "images" / task
    images.mkdir(parents=True, exist_ok=True)
    for name in ("x", "y"):
        (images / f"{name}.jpg").write_bytes(f"image {name}".encode())
    rows = [
        {"qry_text": "<|image_1|>\nred apple", "qry_img_path": f"{task}/x.jpg",
         "tgt_text": ["<|image_1|>\nred apple", "blue car"], "tgt_img_path": [f"{task}/x.jpg", ""]},
        {"qry_text": "green tree", "qry_img_path": "", "tgt_text": ["yellow sun", "green tree"], "tgt_img_path": ["", ""]},
        {"qry_text": "<|image_1|> dog", "qry_img_path": f"{task}/y.jpg", "tgt_text": ["cat", "cat"], "tgt_img_path": ["", ""]},
    ]  # fmt: skip
    return write_jsonl(root / task / "test.jsonl", rows)


def mvrb_folder(root: Path, meta: str = "Screenshot_Retrieval", sub: str = "docs") -> Path:
    folder = root / meta / sub
    (root / "Images").mkdir(parents=True, exist_ok=True)
    for name in ("s1", "s2", "s3"):
        (root / "Images" / f"{name}.png").write_bytes(f"screenshot {name}".encode())
    write_jsonl(
        folder / "corpus.jsonl",
        [{"content": "c1", "text": "", "image": "Images/s1.png"}, {"content": "c2", "text": "", "image": "Images/s2.png"},
         {"content": "c3", "text": "", "image": "Images/s3.png"}],
    )  # fmt: skip
    write_jsonl(
        folder / "query.jsonl",
        [{"q_text": "", "q_image": "Images/s1.png", "target": "c1"}, {"q_text": "", "q_image": "Images/s3.png", "target": "c3"},
         {"q_text": "", "q_image": "Images/s2.png", "target": ["c1"]}],
    )  # fmt: skip
    return folder
