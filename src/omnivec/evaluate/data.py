"""Evaluation data in memory: records, retrieval sets (corpus/queries/qrels), candidate-list sets.

Loaders for every benchmark produce these types, so one protocol implementation serves local
folders and hub downloads alike. BEIR folders (`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`)
are read here; benchmark-specific row formats live beside their tasks.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
        docs = list(corpus)
        qrels_kept = {q: d for q, d in rels.items() if q in kept}
        _warn_unknown_docs(docs, qrels_kept)
        return cls(docs, qs, qrels_kept)


def _warn_unknown_docs(corpus: Sequence[Record], qrels: Mapping[str, Mapping[str, int]]) -> None:
    """Judged documents absent from the corpus can never be retrieved: they lower recall silently."""
    ids = {d.id for d in corpus}
    unknown = sorted({d for rel in qrels.values() for d in rel if d not in ids})
    if unknown:
        examples = ", ".join(repr(d) for d in unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        log.warning(
            "%d judged documents are not in the corpus file (e.g. %s); they count as never retrieved",
            len(unknown), examples,
        )  # fmt: skip


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
    for _, row in read_jsonl_lines(path):
        yield row


def read_jsonl_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
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
            if not _is_int(row[2]):
                raise InputError(
                    received=f"{path} line {n + 1}: relevance score {row[2][:40]!r}",
                    expected="query-id, corpus-id and a numeric score separated by tabs (e.g. 'q1<TAB>d1<TAB>1')",
                    fix="repair that line of the qrels file (the score must be a number)",
                )
            qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
    return qrels


def _is_int(text: str) -> bool:
    try:
        int(float(text))
    except ValueError:
        return False
    return True


def beir_record(row: Mapping[str, Any], image_root: Path, where: str = "a BEIR row") -> Record:
    """A BEIR corpus/query row: `_id`, `text`, optional `title` and `image` (relative path)."""
    if not isinstance(row, Mapping) or "_id" not in row:
        got = sorted(row) if isinstance(row, Mapping) else type(row).__name__
        raise InputError(
            received=f"{where}: a row without '_id' ({'keys ' if isinstance(row, Mapping) else ''}{got})",
            expected="a JSON object with '_id' and 'text' (optional 'title', 'image') on every line",
            fix="add the missing '_id' to that line, or regenerate the file",
        )
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
    corpus = _read_records(need[0], root)
    queries = _read_records(need[1], root)
    for path, records in ((need[0], corpus), (need[1], queries)):
        if not records:
            raise InputError(
                received=f"{path} with no records",
                expected="one JSON object per line ('_id', 'text') in corpus.jsonl and queries.jsonl",
                fix="point at a complete BEIR folder, or regenerate that file",
            )
    data = RetrievalData.build(corpus, queries, read_qrels_tsv(need[2]))
    if not data.queries:
        raise InputError(
            received=f"{folder}: no query in {need[1].name} has judgements in {need[2]}",
            expected="query ids in qrels/<split>.tsv that appear in queries.jsonl",
            fix="check that the qrels and queries files belong to the same set",
        )
    return data


def _read_records(path: Path, root: Path) -> list[Record]:
    """The rows of a BEIR jsonl file as records; a bad row is reported with its line number."""
    return [beir_record(row, root, f"{path} line {n}") for n, row in read_jsonl_lines(path)]


def hub_error(what: str, local: str, exc: Exception) -> InputError:
    """The error for a hub download that failed (offline, renamed, gated): point at the local route."""
    return InputError(
        received=f"{what} could not be loaded from the Hugging Face hub ({type(exc).__name__}: {str(exc)[:120]})",
        expected=f"a reachable hub, or a local copy at {local}",
        fix="download it where you are online and pass --data DIR",
    )
