"""The evaluator: benchmark tasks (dev sets, CoIR, CodeRAG-Bench, MMEB, MVRB, any BEIR folder),
their protocols, pytrec_eval-exact metrics, retrievers (dense, BM25, hybrid) and reports.

>>> from omnivec.evaluate import DataRoots, RunOptions, build_retriever, resolve_tasks, run_task
>>> # tasks = resolve_tasks(["dev:code-docstring"], DataRoots(evalsets=Path("../shared/evalsets")))
>>> # result = run_task(tasks[0], build_retriever("bm25"), RunOptions(limit=100))
"""

from __future__ import annotations

from .data import CandidateData, CandidateRow, Record, RetrievalData, load_beir
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
from .retrievers import BM25Retriever, DenseRetriever, HybridRetriever, build_retriever
from .runner import RunOptions, TaskResult, run_task, run_tasks
from .tasks import DataRoots, Published, Subset, Task, list_task_names, resolve_tasks

__all__ = [
    "BM25Retriever", "CandidateData", "CandidateRow", "DataRoots", "DenseRetriever", "HybridRetriever",
    "Published", "Record", "RetrievalData", "RunOptions", "Subset", "Task", "TaskResult", "build_retriever",
    "compare_table", "evaluate_run", "hit_at_k", "list_task_names", "load_beir", "load_results", "map_at_k",
    "mean_scores", "mrr", "ndcg_at_k", "precision_at_k", "recall_at_k", "resolve_tasks", "run_task",
    "run_tasks", "task_json", "write_result", "write_summary",
]  # fmt: skip
