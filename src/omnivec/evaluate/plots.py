"""PNG plots of results (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omnivec.errors import require


def _pyplot() -> Any:
    matplotlib = require("matplotlib", "eval", "plotting evaluation results")
    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    return plt


def task_bars(
    labels: Sequence[str], table: Mapping[str, Mapping[str, float]], path: Path, title: str = ""
) -> Path:
    """Grouped bars: one group per task, one bar per run (main score x100)."""
    plt = _pyplot()
    tasks = list(table)
    width = 0.8 / max(len(labels), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(tasks) * max(len(labels), 1) ** 0.5 + 2), 4.5))
    for j, label in enumerate(labels):
        xs = [i + (j - (len(labels) - 1) / 2) * width for i in range(len(tasks))]
        ys = [100 * table[t].get(label, 0.0) for t in tasks]
        ax.bar(xs, ys, width, label=label)
    ax.set_xticks(range(len(tasks)), tasks, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("main score x100")
    ax.set_title(title or "main score per task")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, plt, path)


def recall_plot(curves: Mapping[str, Mapping[int, float]], path: Path, title: str) -> Path:
    """Recall@k against k (log scale), one line per run."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, curve in curves.items():
        ks = sorted(curve)
        ax.plot(ks, [100 * curve[k] for k in ks], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("k")
    ax.set_ylabel("Recall@k x100")
    ax.set_ylim(0, 102)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, plt, path)


def write_plots(
    labels: Sequence[str],
    table: Mapping[str, Mapping[str, float]],
    curves: Mapping[str, Mapping[str, Mapping[int, float]]],
    out: Path,
) -> list[Path]:
    """`main_scores.png` plus `recall_<task>.png` per task with Recall@k; `curves` is {label: {task: curve}}."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [task_bars(labels, table, out / "main_scores.png")]
    tasks = sorted({t for c in curves.values() for t in c})
    for task in tasks:
        per_label = {lab: curves[lab][task] for lab in labels if task in curves.get(lab, {})}
        slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in task)
        paths.append(recall_plot(per_label, out / f"recall_{slug}.png", f"Recall@k: {task}"))
    return paths


def _save(fig: Any, plt: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
