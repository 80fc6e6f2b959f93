"""The evaluator: benchmark tasks (dev sets, CoIR, CodeRAG-Bench, MMEB, MVRB, any BEIR folder),
their protocols, pytrec_eval-exact metrics, retrievers (dense, BM25, hybrid) and reports.

One call runs what `omnivec eval` runs and writes what it writes:

>>> from omnivec.evaluate import EvalSettings, evaluate
>>> # run = evaluate(EvalSettings(["dev:code-docstring"], retriever="bm25", out=Path("results/bm25")))
>>> # run.main_scores()

The pieces underneath, for one task at a time:

>>> from omnivec.evaluate import DataRoots, RunOptions, build_retriever, evalsets_dir, resolve_tasks, run_task
>>> # tasks = resolve_tasks(["dev:code-docstring"], DataRoots(evalsets=evalsets_dir()))
>>> # result = run_task(tasks[0], build_retriever("bm25"), RunOptions(limit=100))
"""

from __future__ import annotations

from .api import Comparison, EvalRun, EvalSettings, RetrieverKind, compare, default_out, evaluate
from .data import CandidateData, CandidateRow, Record, RetrievalData, load_beir
from .devsets import evalsets_dir
from .metrics import (
    evaluate_run,
    hit_at_k,
    map_at_k,
    mean_scores,
    mrr,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from .report import compare_table, load_results, task_json, write_result, write_summary
from .retrievers import BM25Retriever, DenseRetriever, HybridRetriever, KeywordSettings, build_retriever
from .runner import RunOptions, TaskResult, run_task, run_tasks
from .tasks import DataRoots, Published, Subset, Task, list_task_names, resolve_tasks

__all__ = [
    "BM25Retriever", "CandidateData", "CandidateRow", "Comparison", "DataRoots", "DenseRetriever", "EvalRun",
    "EvalSettings", "HybridRetriever", "KeywordSettings", "Published", "Record", "RetrievalData", "RetrieverKind", "RunOptions",
    "Subset", "Task", "TaskResult", "build_retriever", "compare", "compare_table", "default_out", "evalsets_dir",
    "evaluate", "evaluate_run", "hit_at_k", "list_task_names", "load_beir", "load_results", "map_at_k",
    "mean_scores", "mrr", "ndcg_at_k", "precision_at_k", "recall_at_k", "resolve_tasks", "run_task",
    "run_tasks", "task_json", "write_result", "write_summary",
]  # fmt: skip
