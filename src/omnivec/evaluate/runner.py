"""Run tasks: load each subset, retrieve, apply the benchmark's protocol, score.

Retrieval protocol (BEIR/CoIR/MTEB): retrieve the top `k` (1000) plus one, drop a hit whose id
equals the query id, keep `k`; score only queries that have judgements; metrics as pytrec_eval
computes them, averaged over queries and rounded to 5 decimals; a task's score is the mean of its
subsets (CodeSearchNet languages, CodeRAG repositories). Candidate protocol (MMEB): rank each row's
own candidates, Precision@1 = share of rows whose best candidate is the gold one (index 0).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivec.errors import InputError
from omnivec.ingest.visual import OCR_PASSAGE_WORDS

from . import metrics
from .ann import overlap_at
from .data import CandidateData, Record, RetrievalData, TitleMode, limit_data
from .passages import Passages, choose
from .retrievers import DenseRetriever, HybridRetriever, Request, Retriever, Run
from .tasks import Subset, Task

if TYPE_CHECKING:
    from omnivec.encoders.spec import EncoderSpec

log = logging.getLogger(__name__)

DIGITS = 5


@dataclass(frozen=True)
class RunOptions:
    """How to run. `title_mode=None` follows each benchmark's convention; `limit` keeps the first
    N queries (see `data.limit_data`)."""

    title_mode: TitleMode | None = None
    limit: int | None = None
    top_k: int = 1000
    seed: int = 0  # nothing in the exact protocol is random; recorded for reproducibility
    # OCR passages for image documents (see `passages`): None = on when the retriever's encoder is
    # an OCR pipeline or `ocr_model` is set; `ocr_model` gives BM25 (no encoder) its OCR
    ocr_passages: bool | None = None
    ocr_model: str | None = None
    passage_words: int = OCR_PASSAGE_WORDS

    def __post_init__(self) -> None:
        check_limit(self.limit)


def check_limit(limit: int | None) -> None:
    """A query limit is 1 or more (None: every query); checked before any work is done."""
    if limit is not None and limit < 1:
        raise InputError(f"--limit {limit}", "a number of queries of 1 or more",
                         "pass --limit N with N >= 1, or drop --limit to run every query")  # fmt: skip


@dataclass
class SubsetResult:
    name: str
    languages: tuple[str, ...]
    scores: dict[str, float]
    n_queries: int
    n_docs: int
    instruction: str | None
    instruction_source: str
    seconds: float
    ann: dict[str, Any] | None = None
    passages: dict[str, Any] | None = None
    # records cut to the model's max_length: {"documents", "queries", "max_length"}; None without a model
    truncated: dict[str, int] | None = None


@dataclass
class TaskResult:
    task: Task
    subsets: list[SubsetResult]
    main_score: float
    title_mode: TitleMode
    retriever: dict[str, Any]
    limited: bool
    seconds: float
    options: RunOptions = field(default_factory=RunOptions)

    def truncation(self) -> dict[str, int] | None:
        """Truncated documents and queries summed over subsets, out of how many documents, and the
        token limit; None when no subset embedded anything (BM25)."""
        subs = [s for s in self.subsets if s.truncated is not None]
        if not subs:
            return None
        return {
            "documents": sum(s.truncated["documents"] for s in subs if s.truncated),
            "queries": sum(s.truncated["queries"] for s in subs if s.truncated),
            "n_docs": sum(s.n_docs for s in subs),
            "max_length": max(s.truncated["max_length"] for s in subs if s.truncated),
        }


def run_tasks(
    tasks: Sequence[Task], retriever: Retriever, options: RunOptions | None = None
) -> list[TaskResult]:
    """Evaluate each task in turn; see `run_task`."""
    return [run_task(t, retriever, options or RunOptions()) for t in tasks]


def run_task(task: Task, retriever: Retriever, options: RunOptions | None = None) -> TaskResult:
    """Score one task with one retriever, e.g. `run_task(resolve_tasks(["dev:code-docstring"], roots)[0],
    build_retriever("bm25"))`."""
    options = options or RunOptions()
    start = time.perf_counter()
    title_mode = options.title_mode or task.title_mode
    results = [_run_subset(task, s, retriever, title_mode, options) for s in task.subsets]
    main = round(math.fsum(r.scores[task.main_metric] for r in results) / len(results), DIGITS)
    log.info("%s: %s = %.5f", task.name, task.main_metric, main)
    return TaskResult(
        task, results, main, title_mode, retriever.describe(), options.limit is not None,
        time.perf_counter() - start, options,
    )  # fmt: skip


def _run_subset(
    task: Task, subset: Subset, retriever: Retriever, title_mode: TitleMode, options: RunOptions
) -> SubsetResult:
    start = time.perf_counter()
    dense = _dense_or_none(retriever)
    before = dict(dense.truncated_by_role) if dense is not None else {}
    data = subset.load()
    if options.limit is not None:
        data = limit_data(data, options.limit)
    _check_not_empty(task, subset, data)
    instruction, source = choose_instruction(task, subset, retriever)
    ann = split = None
    if isinstance(data, CandidateData):
        scores, n_q, n_d = score_candidates(data, _dense_of(retriever, task), title_mode, instruction)
    else:
        req = Request(title_mode, instruction, options.top_k + (1 if task.drop_self_hits else 0))
        passages = choose(retriever, data, options.ocr_passages, options.ocr_model, options.passage_words)
        run, split = retrieve(data, retriever, req, passages)
        scores = _score_run(task, run, data, options.top_k)
        if split is None:
            ann = _ann_report(task, retriever, run, data, scores, options.top_k)
        elif isinstance(retriever, DenseRetriever) and retriever.take_ann() is not None:
            log.warning("--ann is not reported with OCR passages: its run ranks passages")
        _warn_textless(retriever, data, split)
        n_q, n_d = len(data.queries), len(data.corpus)
    truncated = None
    if dense is not None:
        after = dense.truncated_by_role
        truncated = {
            "documents": after.get("document", 0) - before.get("document", 0),
            "queries": after.get("query", 0) - before.get("query", 0),
            "max_length": dense.encoder.spec.max_length,
        }
    return SubsetResult(
        subset.name, subset.languages, scores, n_q, n_d, instruction, source, time.perf_counter() - start, ann,
        split, truncated,
    )  # fmt: skip


def _dense_or_none(retriever: Retriever) -> DenseRetriever | None:
    if isinstance(retriever, DenseRetriever):
        return retriever
    if isinstance(retriever, HybridRetriever):
        return retriever.dense
    return None


def _check_not_empty(task: Task, subset: Subset, data: CandidateData | RetrievalData) -> None:
    """No queries or no documents would score nothing: say so instead of failing inside a scorer."""
    where = task.name if subset.name == "default" else f"{task.name} ({subset.name})"
    if isinstance(data, CandidateData):
        empty = "" if data.rows else "no rows"
    else:
        empty = "no judged queries" if not data.queries else "no documents" if not data.corpus else ""
    if empty:
        raise InputError(
            received=f"{where}: {empty} to evaluate",
            expected="at least one judged query and one document",
            fix="check the task's data files (queries, corpus, qrels) and --limit",
        )


def _score_run(task: Task, run: Run, data: RetrievalData, k: int) -> dict[str, float]:
    if task.drop_self_hits:
        run = drop_self_hits(run, k)
    return metrics.mean_scores(metrics.evaluate_run(run, data.qrels), DIGITS)


def _ann_report(
    task: Task, retriever: Retriever, run: Run, data: RetrievalData, exact: dict[str, float], k: int
) -> dict[str, Any] | None:
    """Exact vs approximate (when the retriever kept an approximate run): overlap and main metric."""
    taken = retriever.take_ann() if isinstance(retriever, DenseRetriever) else None
    if taken is None:
        return None
    approx, info = taken
    approx = {q.id: approx.get(q.id, {}) for q in data.queries}
    scores = _score_run(task, approx, data, k)
    main = task.main_metric
    return {
        **info, "overlap_at_10": overlap_at(run, approx, 10), f"{main}_exact": exact[main],
        f"{main}_ann": scores[main], "recall_at_100_exact": exact["recall_at_100"],
        "recall_at_100_ann": scores["recall_at_100"],
    }  # fmt: skip


def retrieve(
    data: RetrievalData, retriever: Retriever, req: Request, passages: Passages | None = None
) -> tuple[Run, dict[str, Any] | None]:
    """The retriever's run, with an entry (possibly empty) for every judged query; with `passages`,
    over OCR passages max-pooled to documents, and what the split recorded."""
    info = None
    if passages is None:
        run = retriever.retrieve(data, req)
    else:
        run, info = passages.retrieve(retriever, data, req)
    return {q.id: run.get(q.id, {}) for q in data.queries}, info


def _warn_textless(retriever: Retriever, data: RetrievalData, split: dict[str, Any] | None) -> None:
    """BM25 cannot see an image: say so rather than report a silent zero."""
    if split is None and retriever.name in ("bm25", "hybrid") and any(d.image for d in data.corpus):
        log.warning(
            "%s on image documents without OCR passages: images contribute no text "
            "(pass --ocr-passages or an OCR --model)", retriever.name,
        )  # fmt: skip


def drop_self_hits(run: Run, k: int) -> Run:
    """Remove a hit whose id equals its query's id (CoIR/BEIR), then keep the best `k`."""
    out: Run = {}
    for qid, hits in run.items():
        # trec_eval's order (score, then doc id, descending) decides ties at the cut too
        kept = sorted(
            ((d, s) for d, s in hits.items() if d != qid), key=lambda kv: (kv[1], kv[0]), reverse=True
        )
        out[qid] = dict(kept[:k])
    return out


def choose_instruction(task: Task, subset: Subset, retriever: Retriever) -> tuple[str | None, str]:
    """The query instruction and where it came from.

    Models without an instruction slot get none. Otherwise: the model's preset for the task id,
    else the benchmark's own instruction, else the model's default. MMEB puts the instruction in
    the query text, so there the slot is left empty.
    """
    spec = _spec_of(retriever)
    if spec is None:
        return None, "none (no model)"
    if not spec.takes_instruction:
        return None, "none (no instruction slot)"
    if task.instruction_policy == "inline":
        return "", "inside the query text"
    for task_id in subset.instruction_ids:
        try:
            return spec.instruction_for(task_id), f"model preset {task_id}"
        except InputError:
            continue
    if task.instruction:
        return task.instruction, "benchmark instruction"
    return spec.default_instruction, "model default" if spec.default_instruction else "none (model default)"


def _spec_of(retriever: Retriever) -> EncoderSpec | None:
    if isinstance(retriever, DenseRetriever):
        return retriever.encoder.spec
    if isinstance(retriever, HybridRetriever):
        return retriever.dense.encoder.spec
    return None


def _dense_of(retriever: Retriever, task: Task) -> DenseRetriever:
    if isinstance(retriever, DenseRetriever):
        return retriever
    raise InputError(
        received=f"retriever {retriever.name!r} for {task.name}",
        expected="the dense retriever (candidate-list tasks score each row's candidates with the model)",
        fix="drop --retriever, or use --retriever dense",
    )


def score_candidates(
    data: CandidateData, dense: DenseRetriever, title_mode: TitleMode, instruction: str | None
) -> tuple[dict[str, float], int, int]:
    """Precision@1 over each row's own candidates. Identical inputs are embedded once; ties go to
    the gold candidate (the first index), as the reference argmax does."""
    queries = _unique([r.query for r in data.rows])
    cands = _unique([c for r in data.rows for c in r.candidates])
    q_vecs = dense.encode(list(queries.values()), "query", "text", instruction)
    c_vecs = dense.encode(list(cands.values()), "document", title_mode, None)
    q_pos, c_pos = {k: i for i, k in enumerate(queries)}, {k: i for i, k in enumerate(cands)}
    correct = 0
    for row in data.rows:
        qv = q_vecs[q_pos[_key(row.query)]]
        scores = c_vecs[[c_pos[_key(c)] for c in row.candidates]] @ qv
        correct += int(len(scores) > 0 and int(np.argmax(scores)) == 0)
    n = len(data.rows)
    p1 = round(correct / n, DIGITS) if n else 0.0
    return {"precision_at_1": p1, "hit_at_1": p1}, n, len(cands)


def _key(r: Record) -> tuple[str, str, str | None]:
    return (r.title, r.text, r.image)


def _unique(records: Sequence[Record]) -> dict[tuple[str, str, str | None], Record]:
    out: dict[tuple[str, str, str | None], Record] = {}
    for r in records:
        out.setdefault(_key(r), r)
    return out
