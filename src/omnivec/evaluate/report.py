"""Results on disk: one JSON per task in MTEB's layout (plus an `omnivec` block), a markdown
summary with published numbers beside ours, suite averages, and side-by-side comparisons.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .runner import DIGITS, TaskResult
from .tasks import Suite, suites

log = logging.getLogger(__name__)

PACKAGES = (
    "omnivec",
    "numpy",
    "torch",
    "transformers",
    "bm25s",
    "pytrec-eval-terrier",
    "datasets",
    "faiss-cpu",
)
SUMMARY_FILES = ("summary.json",)


# --- one task -> JSON ----------------------------------------------------------------------------------
def task_json(result: TaskResult, env: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """MTEB's result layout (`task_name`, `scores.test[]` with `main_score` and `hf_subset`) plus
    everything needed to reproduce the number under `omnivec`."""
    task = result.task
    entries = [
        {
            "main_score": s.scores[task.main_metric],
            **s.scores,
            "hf_subset": s.name,
            "languages": list(s.languages),
        }
        for s in result.subsets
    ]
    info = {
        "benchmark": task.benchmark, "group": task.group, "modality": task.modality,
        "main_metric": task.main_metric, "main_score": result.main_score,
        "task_scores": subset_means([s.scores for s in result.subsets]),
        **result.retriever, "title_mode": result.title_mode,
        "instructions": {s.name: {"text": s.instruction, "source": s.instruction_source} for s in result.subsets},
        "protocol": _protocol(result), "limit": result.options.limit, "limited": result.limited,
        "n_queries": {s.name: s.n_queries for s in result.subsets},
        "n_docs": {s.name: s.n_docs for s in result.subsets},
        "ann": {s.name: s.ann for s in result.subsets if s.ann} or None,
        "ocr_passages": {s.name: s.passages for s in result.subsets if s.passages} or None,
        "truncated": _truncated(result),
        "published": [vars(p) for p in task.published], "note": task.note,
        "seed": result.options.seed, "elapsed_seconds": round(result.seconds, 2),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **(env if env is not None else environment()),
    }  # fmt: skip
    return {
        "dataset_revision": None,
        "task_name": task.name,
        "mteb_version": None,
        "scores": {"test": entries},
        "evaluation_time": round(result.seconds, 2),
        "kg_co2_emissions": None,
        "omnivec": info,
    }


def _truncated(result: TaskResult) -> dict[str, Any] | None:
    """Records cut to the model's max_length: totals and per subset; None when nothing was embedded."""
    total = result.truncation()
    if total is None:
        return None
    return {**total, "subsets": {s.name: s.truncated for s in result.subsets if s.truncated is not None}}


def truncation_line(result: TaskResult) -> str | None:
    """`truncated 63 of 4865 documents to 256 tokens` (plus queries when any were cut); None for BM25."""
    t = result.truncation()
    if t is None:
        return None
    line = f"truncated {t['documents']} of {t['n_docs']} documents to {t['max_length']} tokens"
    return line + (f", and {t['queries']} queries" if t["queries"] else "")


def settings_line(retriever: Mapping[str, Any]) -> str:
    """The retriever's settings in one line, e.g. `hybrid: model ...; bm25 omnivec-code-3:en:...;
    fusion zscore (depth 100); weights dense 1, keyword 1`."""
    recipe = retriever.get("recipe") or {}
    kind = retriever.get("retriever", "?")
    bm25 = recipe if kind == "bm25" else recipe.get("bm25")
    parts = [] if kind == "bm25" else [f"model {retriever.get('model', '?').removeprefix('hybrid:')}"]
    if bm25:
        parts.append(f"bm25 {bm25.get('analyzer', bm25.get('tokens', '?'))}")
    if "fusion" in recipe:
        extra = f"depth {recipe['depth']}" if "depth" in recipe else f"k {recipe.get('rrf_k')}"
        parts.append(f"fusion {recipe['fusion']} ({extra})")
        weights = recipe.get("weights") or {}
        parts.append("weights " + ", ".join(f"{k} {v:g}" for k, v in weights.items()))
    return f"{kind}: " + "; ".join(p for p in parts if p)


def _protocol(result: TaskResult) -> dict[str, Any]:
    if result.task.protocol == "candidates":
        return {"kind": "candidates", "metric": "precision@1 over each row's candidates, gold first"}
    return {
        "kind": "retrieval", "search": "exact cosine", "top_k": result.options.top_k,
        "self_hits_dropped": result.task.drop_self_hits, "queries": "only those in qrels",
        "metrics": "pytrec_eval definitions, mean over queries", "rounding": DIGITS,
        "subset_average": "mean of subsets' scores" if len(result.subsets) > 1 else None,
    }  # fmt: skip


def subset_means(scores: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each metric averaged over subsets (CoIR's language averaging), rounded like the subsets."""
    if not scores:
        return {}
    return {m: round(math.fsum(s[m] for s in scores) / len(scores), DIGITS) for m in scores[0]}


def environment() -> dict[str, Any]:
    """Package versions and hardware; reads no environment variables and imports nothing heavy."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    hardware = {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        hardware["gpu"] = torch.cuda.get_device_name(0)
        hardware["torch_threads"] = torch.get_num_threads()
    elif torch is not None:
        hardware["torch_threads"] = torch.get_num_threads()
    return {"packages": versions, "python": platform.python_version(), "hardware": hardware}


def write_result(result: TaskResult, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result.task.slug}.json"
    path.write_text(json.dumps(task_json(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_results(folder: Path) -> list[dict[str, Any]]:
    """Every task JSON in a results folder, sorted by task name."""
    out = []
    for path in sorted(Path(folder).glob("*.json")):
        if path.name in SUMMARY_FILES:
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "task_name" in data and "omnivec" in data:
            out.append(data)
    return sorted(out, key=lambda d: d["task_name"])


# --- suites ----------------------------------------------------------------------------------------------
def suite_scores(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per benchmark with a suite: overall mean over the tasks present, group means, completeness."""
    by_bench: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        by_bench.setdefault(r["omnivec"]["benchmark"], []).append(r)
    rows = []
    for bench, suite in suites().items():
        present = by_bench.get(bench, [])
        if len(present) < 2 or not (suite.tasks or suite.published):
            continue
        rows.append(_suite_row(bench, suite, present))
    return rows


def _suite_row(bench: str, suite: Suite, present: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    mains = {r["task_name"]: r["omnivec"]["main_score"] for r in present}
    groups: dict[str, list[float]] = {}
    for r in present:
        if r["omnivec"]["group"]:
            groups.setdefault(r["omnivec"]["group"], []).append(r["omnivec"]["main_score"])
    missing = [t for t in suite.tasks if t not in mains]
    return {
        "suite": bench, "score": _mean(mains.values()), "tasks": len(mains), "missing": missing,
        "complete": not missing, "groups": {g: _mean(v) for g, v in sorted(groups.items())},
        "published": [vars(p) for p in suite.published],
        "group_published": {g: [vars(p) for p in ps] for g, ps in suite.group_published.items()},
        "note": suite.note,
    }  # fmt: skip


def _mean(values: Iterable[float]) -> float:
    vals = list(values)
    return round(math.fsum(vals) / len(vals), DIGITS) if vals else 0.0


# --- markdown --------------------------------------------------------------------------------------------
def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def published_cell(published: Iterable[Mapping[str, Any]], metric: str, model: str) -> str:
    """`BAAI/bge-code-v1 46.72`; the entry for the model being evaluated is bold."""
    cells = []
    for p in published:
        if p["metric"] != metric:
            continue
        same = _same_model(p["model"], model)
        text = f"{p['model']} {p['score']:.2f}" + (f" ({p['note']})" if p.get("note") and same else "")
        cells.append(f"**{text}**" if same else text)
    return "; ".join(cells) or "-"


def _same_model(a: str, b: str) -> bool:
    return a.lower().split("/")[-1] == b.lower().split("/")[-1]


def summary_markdown(results: Sequence[Mapping[str, Any]]) -> str:
    """A table of every task (main metric, plus any metric with published numbers) and suite means."""
    if not results:
        return "No results.\n"
    models = sorted({f"{r['omnivec']['model']} ({r['omnivec']['retriever']})" for r in results})
    lines = [f"# omnivec eval: {', '.join(models)}", "",
             "Scores x100. Published numbers are as reported; the bold one is this model's own.", "",
             "| task | metric | ours | published | queries | docs | title mode | instruction |",
             "|---|---|---:|---|---:|---:|---|---|"]  # fmt: skip
    limited = False
    for r in results:
        o = r["omnivec"]
        metrics = dict.fromkeys([o["main_metric"], *(p["metric"] for p in o["published"])])
        for m in metrics:
            star = "†" if o["limited"] else ""
            limited |= o["limited"]
            lines.append(
                f"| {r['task_name']} | {m} | {pct(o['task_scores'].get(m))}{star} | "
                f"{published_cell(o['published'], m, o['model'])} | {sum(o['n_queries'].values())} | "
                f"{sum(o['n_docs'].values())} | {o['title_mode']} | {_instruction_cell(o['instructions'])} |"
            )
    lines += _suite_lines(results)
    if limited:
        lines += ["", "† `--limit` run: a subset of queries and corpus, not comparable to published numbers."]
    return "\n".join(lines) + "\n"


def _instruction_cell(instructions: Mapping[str, Mapping[str, Any]]) -> str:
    sources = sorted({v["source"] for v in instructions.values()})
    return ", ".join(sources).replace("|", "/")


def _suite_lines(results: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = suite_scores(results)
    if not rows:
        return []
    model = results[0]["omnivec"]["model"]
    lines = ["", "| suite | tasks | ours | published |", "|---|---:|---:|---|"]
    for s in rows:
        metric = s["published"][0]["metric"] if s["published"] else ""
        done = f"{s['tasks']}" + ("" if s["complete"] else f" (missing {len(s['missing'])})")
        lines.append(
            f"| {s['suite']} | {done} | {pct(s['score'])} | {published_cell(s['published'], metric, model)} |"
        )
        for g, v in s["groups"].items():
            pub = published_cell(s["group_published"].get(g, []), metric, model)
            lines.append(f"| {s['suite']}/{g} | | {pct(v)} | {pub} |")
    return lines


def write_summary(folder: Path) -> Path:
    """Regenerate `summary.md` and `summary.json` from every task JSON in the folder."""
    results = load_results(folder)
    (folder / "summary.json").write_text(json.dumps({"suites": suite_scores(results)}, indent=2) + "\n")
    path = folder / "summary.md"
    path.write_text(summary_markdown(results), encoding="utf-8")
    return path


# --- comparing runs --------------------------------------------------------------------------------------
def compare_table(folders: Sequence[Path]) -> tuple[list[str], dict[str, dict[str, float]]]:
    """(labels, {task: {label: main score}}) for results folders; labels are folder names."""
    labels = _labels(folders)
    table: dict[str, dict[str, float]] = {}
    for label, folder in zip(labels, folders):
        results = load_results(folder)
        if not results:
            log.warning("no results in %s", folder)
        for r in results:
            table.setdefault(r["task_name"], {})[label] = r["omnivec"]["main_score"]
        for s in suite_scores(results):
            table.setdefault(f"{s['suite']} (mean)", {})[label] = s["score"]
    return labels, dict(sorted(table.items()))


def _labels(folders: Sequence[Path]) -> list[str]:
    names = [Path(f).name for f in folders]
    return names if len(set(names)) == len(names) else [str(f) for f in folders]


def compare_markdown(labels: Sequence[str], table: Mapping[str, Mapping[str, float]]) -> str:
    lines = ["| task | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for task, row in table.items():
        best = max(row.values()) if row else None
        cells = [_best(row.get(lab), best) for lab in labels]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _best(value: float | None, best: float | None) -> str:
    return f"**{pct(value)}**" if value is not None and value == best else pct(value)


def recall_curves(folder: Path) -> dict[str, dict[int, float]]:
    """{task: {k: recall@k}} from the task-level scores of a results folder."""
    out: dict[str, dict[int, float]] = {}
    for r in load_results(folder):
        scores = r["omnivec"]["task_scores"]
        ks = sorted(int(m.rsplit("_", 1)[1]) for m in scores if m.startswith("recall_at_"))
        if ks:
            out[r["task_name"]] = {k: scores[f"recall_at_{k}"] for k in ks}
    return out
