"""Evaluation data in memory: records, retrieval sets (corpus/queries/qrels), candidate-list sets.

Loaders for every benchmark produce these types, so one protocol implementation serves local
folders and hub downloads alike. BEIR folders (`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`)
are read here; benchmark-specific row formats live beside their tasks.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from omnivec.errors import InputError
from omnivec.types import Item, Modality

log = logging.getLogger(__name__)

TitleMode = Literal["text", "title-text"]
TITLE_MODES: tuple[str, ...] = ("text", "title-text")


@dataclass(frozen=True)
class Record:
    """One query or document: text, an optional title and an optional image (absolute path)."""

    id: str
    text: str = ""
    title: str = ""
    image: str | None = None

    def content(self, title_mode: TitleMode = "text") -> str:
        """The text an encoder sees: `title + " " + text` in title-text mode when there is a title."""
        if title_mode == "title-text" and self.title:
            return f"{self.title} {self.text}".strip()
        return self.text

    def item(self, title_mode: TitleMode = "text") -> Item | None:
        """An `Item` for the encoder, or None when the record has neither text nor image."""
        text = self.content(title_mode)
        if self.image is not None:
            modality: Modality = "image"
            return Item(text=text or None, image=self.image, id=self.id, modality=modality)
        return Item(text=text, id=self.id) if text.strip() else None


@dataclass
class RetrievalData:
    """A corpus, the queries to run against it (only those with judgements) and graded qrels."""

    corpus: list[Record]
    queries: list[Record]
    qrels: dict[str, dict[str, int]]
    limited: bool = False

    @classmethod
    def build(
        cls, corpus: Iterable[Record], queries: Iterable[Record], qrels: Mapping[str, Mapping[str, int]]
    ) -> RetrievalData:
        """Keep only queries present in qrels (CoIR/BEIR), in their file order."""
        rels = {q: dict(d) for q, d in qrels.items() if d}
        qs = [q for q in queries if q.id in rels]
        missing = len(rels) - len({q.id for q in qs})
        if missing:
            log.warning("%d judged queries have no text in the queries file; they are skipped", missing)
        kept = {q.id for q in qs}
        return cls(list(corpus), qs, {q: d for q, d in rels.items() if q in kept})


@dataclass(frozen=True)
class CandidateRow:
    """One query with its own candidate list, gold first (MMEB)."""

    query: Record
    candidates: tuple[Record, ...]


@dataclass
class CandidateData:
    rows: list[CandidateRow] = field(default_factory=list)
    limited: bool = False


Dataset = RetrievalData | CandidateData


def limit_data(data: Dataset, n: int) -> Dataset:
    """Keep the first `n` queries (rows). For retrieval sets the corpus keeps the documents judged
    for those queries plus the first `10 * n` other documents in file order, so a smoke run stays
    small; its scores are not comparable to full runs and are flagged `limited`."""
    if isinstance(data, CandidateData):
        return CandidateData(data.rows[:n], limited=True)
    queries = data.queries[:n]
    qrels = {q.id: data.qrels[q.id] for q in queries}
    judged = {d for rel in qrels.values() for d in rel}
    extra = 10 * n
    corpus = []
    for doc in data.corpus:
        if doc.id in judged:
            corpus.append(doc)
        elif extra > 0:
            corpus.append(doc)
            extra -= 1
    return RetrievalData(corpus, queries, qrels, limited=True)


# --- files ---------------------------------------------------------------------------------------------
def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    received=f"{path} line {n}: {line[:60]!r}",
                    expected="one JSON object per line",
                    fix="repair or regenerate that file",
                ) from exc


def read_qrels_tsv(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels: a header line, then `query-id, corpus-id, score` separated by tabs."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_MINIMAL)
        for n, row in enumerate(rows):
            if n == 0 and row and not _is_int(row[-1]):
                continue  # header
            if len(row) < 3:
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
    return qrels


def _is_int(text: str) -> bool:
    try:
        int(float(text))
    except ValueError:
        return False
    return True


def beir_record(row: Mapping[str, Any], image_root: Path) -> Record:
    """A BEIR corpus/query row: `_id`, `text`, optional `title` and `image` (relative path)."""
    image = row.get("image")
    return Record(
        id=str(row["_id"]),
        text=row.get("text") or "",
        title=row.get("title") or "",
        image=str((image_root / image).resolve()) if image else None,
    )


def load_beir(folder: Path, split: str = "test", image_root: Path | None = None) -> RetrievalData:
    """Read a BEIR folder. Image paths are relative to `image_root` (default: the folder)."""
    folder = Path(folder)
    need = [folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"]
    absent = [str(p) for p in need if not p.is_file()]
    if absent:
        raise InputError(
            received=f"folder {folder}, missing {', '.join(absent)}",
            expected="a BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv",
            fix="point at a BEIR-format folder, or set OMNIVEC_EVALSETS for the dev:* sets",
        )
    root = image_root or folder
    corpus = [beir_record(r, root) for r in read_jsonl(need[0])]
    queries = [beir_record(r, root) for r in read_jsonl(need[1])]
    return RetrievalData.build(corpus, queries, read_qrels_tsv(need[2]))


def hub_error(what: str, local: str, exc: Exception) -> InputError:
    """The error for a hub download that failed (offline, renamed, gated): point at the local route."""
    return InputError(
        received=f"{what} could not be loaded from the Hugging Face hub ({type(exc).__name__}: {str(exc)[:120]})",
        expected=f"a reachable hub, or a local copy at {local}",
        fix="download it where you are online and pass --data DIR",
    )
