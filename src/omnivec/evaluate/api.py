"""The evaluator as two library calls: `evaluate(settings)` scores tasks and writes the reports,
`compare(folders)` puts results folders side by side. `omnivec eval` only parses flags into
`EvalSettings` and prints what these return, so a script or notebook gets exactly what the CLI writes.

>>> from omnivec.evaluate import EvalSettings, evaluate
>>> run = evaluate(EvalSettings(["dev:code-docstring"], retriever="bm25", limit=100))  # doctest: +SKIP
>>> run.main_scores()  # doctest: +SKIP
{'dev:code-docstring': 0.6...}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from omnivec.errors import InputError, OmnivecError

from .ann import AnnSettings
from .data import TitleMode
from .devsets import evalsets_dir
from .retrievers import KeywordSettings, build_retriever
from .runner import RunOptions, TaskResult, check_limit, run_task
from .tasks import DataRoots, resolve_tasks

if TYPE_CHECKING:
    from omnivec.encoders.cache import EmbeddingCache

    from .retrievers import BM25Retriever, DenseRetriever, HybridRetriever

RetrieverKind = Literal["dense", "bm25", "hybrid"]
RETRIEVERS: tuple[str, ...] = get_args(RetrieverKind)
TITLE_MODES: tuple[str, ...] = get_args(TitleMode)


@dataclass(frozen=True)
class EvalSettings:
    """Everything one evaluation run depends on; each field is an `omnivec eval` flag.

    `tasks`: task names (`omnivec eval --list`) or BEIR folders. `model`: a registered name or a
    checkpoint folder (None: the configured default; BM25 uses it only to find an OCR pipeline).
    `title_mode`: None follows each benchmark's convention. `limit`: the first N queries, corpus =
    their judged documents + 10N others. `ann`: also search a faiss IVF index and report its loss.
    `ocr_passages`: None = on for OCR models. `out`: where the JSON per task, `summary.md/json` and
    plots go (None: nothing is written). `evalsets`/`cache_dir`: None = `evalsets_dir()` and
    `omnivec.config.cache_dir()`. `use_cache`: read and write the embedding cache. `keyword`: the
    BM25 analyser (stop words, k1/b) and, for hybrid, the fusion and its weights (None: the
    search defaults); every one of them is recorded in each result's JSON.
    """

    tasks: Sequence[str]
    model: str | None = None
    retriever: RetrieverKind = "dense"
    title_mode: TitleMode | None = None
    max_length: int | None = None
    backend: str | None = None  # auto, torch, onnx or onnx-int8 (None: the default, OMNIVEC_BACKEND)
    batch_tokens: int | None = None
    limit: int | None = None
    top_k: int = 1000
    ocr_passages: bool | None = None
    ann: AnnSettings | None = None
    use_cache: bool = True
    out: Path | None = None
    plots: bool = True
    data: Path | None = None
    evalsets: Path | None = None
    cache_dir: Path | None = None
    progress: bool = False
    keyword: KeywordSettings = field(default_factory=KeywordSettings)

    def __post_init__(self) -> None:
        # a tuple keeps the frozen settings hashable and safe to share, whatever sequence was passed
        object.__setattr__(self, "tasks", tuple(self.tasks))
        if not self.tasks:
            raise InputError("no task", "one or more task names or BEIR folders", "run `omnivec eval --list`")
        if self.retriever not in RETRIEVERS:
            raise InputError(f"retriever {self.retriever!r}", " or ".join(RETRIEVERS), "pick one of them")
        if self.title_mode not in (None, *TITLE_MODES):
            raise InputError(f"title mode {self.title_mode!r}", " or ".join(TITLE_MODES), "pick one of them")
        check_limit(self.limit)

    def run_options(self) -> RunOptions:
        """The per-task protocol options these settings imply."""
        return RunOptions(
            title_mode=self.title_mode, limit=self.limit, top_k=self.top_k, ocr_passages=self.ocr_passages,
            ocr_model=bm25_ocr_model(self.model) if self.retriever == "bm25" else None,
        )  # fmt: skip


@dataclass(frozen=True)
class EvalRun:
    """What `evaluate` produced: one result per task, in order, and the files written (if any)."""

    results: tuple[TaskResult, ...]
    files: tuple[Path, ...] = ()  # one JSON per task, in the order of `results`
    summary: Path | None = None  # summary.md (summary.json sits beside it)
    plots: tuple[Path, ...] = ()

    def main_scores(self) -> dict[str, float]:
        """{task name: main score}, e.g. {'dev:code-docstring': 0.48175}."""
        return {r.task.name: r.main_score for r in self.results}


OnResult = Callable[[TaskResult, Path | None], None]  # (result, JSON written or None)


def evaluate(settings: EvalSettings, on_result: OnResult | None = None) -> EvalRun:
    """Score every task in `settings` and, when `settings.out` is set, write the reports.

    Each task's JSON is written as soon as it is scored, so a crash later keeps earlier tasks;
    `on_result(result, path)` is then called (path None without `out`), e.g. to print progress.
    """
    from omnivec.config import cache_dir as configured_cache

    check_out(settings.out)
    base = settings.cache_dir or configured_cache()
    tasks = resolve_tasks(settings.tasks, _roots(settings, base))
    retriever = _retriever(settings, base)
    options = settings.run_options()
    results: list[TaskResult] = []
    files: list[Path] = []
    for task in tasks:
        result = run_task(task, retriever, options)
        results.append(result)
        path = _write(result, settings.out)
        if path is not None:
            files.append(path)
        if on_result is not None:
            on_result(result, path)
    return _finish(tuple(results), tuple(files), settings)


def check_out(out: Path | None) -> None:
    """Refuse a results folder that cannot be one before any work, not after the whole run."""
    if out is None:
        return
    clash = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if clash is not None:
        raise InputError(
            received=f"--out {out}, but {clash} is a file",
            expected="a results folder (created if absent)",
            fix="pass --out with a folder path, or move that file away",
        )


def _roots(settings: EvalSettings, base: Path) -> DataRoots:
    return DataRoots(
        evalsets=settings.evalsets or evalsets_dir(), data=settings.data, cache=base / "datasets"
    )


def _retriever(settings: EvalSettings, base: Path) -> DenseRetriever | BM25Retriever | HybridRetriever:
    from omnivec.encoders.registry import load_encoder

    kind = settings.retriever
    options: dict[str, Any] = {"backend": settings.backend} if settings.backend else {}
    encoder = (
        None if kind == "bm25" else load_encoder(settings.model, max_length=settings.max_length, **options)
    )
    cache = _cache(base) if settings.use_cache and encoder is not None else None
    return build_retriever(
        kind, encoder, cache, settings.batch_tokens, progress=settings.progress,
        work_dir=_scratch(base), ann=settings.ann, keyword=settings.keyword,
    )  # fmt: skip


def _cache(base: Path) -> EmbeddingCache:
    from omnivec.encoders.cache import EmbeddingCache

    return EmbeddingCache(base / "embeddings.sqlite")


def _scratch(base: Path) -> Path:
    path = base / "eval-scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write(result: TaskResult, out: Path | None) -> Path | None:
    from .report import write_result

    return None if out is None else write_result(result, out)


def _finish(results: tuple[TaskResult, ...], files: tuple[Path, ...], settings: EvalSettings) -> EvalRun:
    """The summary covers every task JSON in the folder, earlier runs' included, as it always has."""
    if settings.out is None:
        return EvalRun(results)
    from .report import write_summary

    summary = write_summary(settings.out)
    plots = tuple(write_plots([settings.out], settings.out / "plots")) if settings.plots else ()
    return EvalRun(results, files, summary, plots)


def default_out(model: str | None, retriever: str) -> Path:
    """`results/<model>` for dense, `results/<retriever>-<model>` for hybrid, `results/bm25` for BM25."""
    if retriever == "bm25":
        return Path("results") / "bm25"
    from omnivec.config import default_model

    name = (model or default_model()).rstrip("/").split("/")[-1]
    return Path("results") / (name if retriever == "dense" else f"{retriever}-{name}")


def bm25_ocr_model(model: str | None) -> str | None:
    """BM25 embeds nothing, but an OCR `model` still gives it the text of image documents."""
    if model is None:
        return None
    from omnivec.encoders.registry import get_spec

    try:
        return model if get_spec(model).family == "ocr" else None
    except OmnivecError:  # a checkpoint folder: not an OCR pipeline
        return None


# --- comparing runs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """Results folders side by side: `table` is {task: {label: main score}}, labels are folder names."""

    labels: tuple[str, ...]
    table: dict[str, dict[str, float]]
    markdown: str
    report: Path | None = None  # compare.md, when written
    plots: tuple[Path, ...] = field(default_factory=tuple)


def compare(folders: Sequence[Path], out: Path | None = None) -> Comparison:
    """Compare results folders; with `out`, write `compare.md` and the plots there."""
    from .report import compare_markdown, compare_table

    missing = [str(f) for f in folders if not Path(f).is_dir()]
    if missing:
        raise InputError(f"results folders {', '.join(missing)}", "existing folders", "check the paths")
    labels, table = compare_table(folders)
    markdown = compare_markdown(labels, table)
    if out is None:
        return Comparison(tuple(labels), table, markdown)
    out.mkdir(parents=True, exist_ok=True)
    report = out / "compare.md"
    report.write_text(markdown, encoding="utf-8")
    return Comparison(tuple(labels), table, markdown, report, tuple(write_plots(folders, out)))


def write_plots(folders: Sequence[Path], out: Path) -> list[Path]:
    """Main-score bars and recall curves for results folders, written as PNGs under `out`."""
    from .plots import write_plots as plot
    from .report import compare_table, recall_curves

    labels, table = compare_table(folders)
    curves = {lab: recall_curves(f) for lab, f in zip(labels, folders)}
    return plot(labels, table, curves, out)
