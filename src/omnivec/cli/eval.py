"""`omnivec eval`: thin over `omnivec.evaluate.evaluate` and `compare` (parse -> settings -> call -> print)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from omnivec.cli.app import app
from omnivec.errors import InputError
from omnivec.runtime import setup_runtime

if TYPE_CHECKING:
    from omnivec.evaluate import Comparison, KeywordSettings, TaskResult


@app.command("eval")
def eval_command(
    tasks: Annotated[
        list[str] | None,
        typer.Argument(help="Task names (see --list) or BEIR folders; with --compare, results folders."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Registered name or checkpoint folder (default: the configured model).")
    ] = None,
    retriever: Annotated[
        str, typer.Option(help="dense (the model), bm25, or hybrid (both, fused as search fuses them).")
    ] = "dense",
    title_mode: Annotated[
        str | None, typer.Option(help="text or title-text (default: the benchmark's convention).")
    ] = None,
    max_length: Annotated[int | None, typer.Option(help="Truncation length in tokens.")] = None,
    batch_tokens: Annotated[int | None, typer.Option(help="Token budget per forward pass.")] = None,
    limit: Annotated[
        int | None, typer.Option(help="Keep the first N queries; corpus = their judged docs + 10N others.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Results folder (default results/<model>).")] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Local benchmark copies: DIR/coir/<name>/, DIR/coderag/, DIR/mmeb/, DIR/mvrb/."),
    ] = None,
    compare: Annotated[
        bool, typer.Option("--compare", help="Compare the results folders given as arguments.")
    ] = False,
    list_tasks: Annotated[bool, typer.Option("--list", help="List task names and exit.")] = False,
    ann: Annotated[
        bool,
        typer.Option("--ann", help="Also search a faiss IVF index; report its loss against exact search."),
    ] = False,
    ocr_passages: Annotated[
        bool | None,
        typer.Option(
            "--ocr-passages/--no-ocr-passages",
            help="Score image documents by their best OCR passage (default: on for OCR models, "
            "and for --retriever bm25 given an OCR --model).",
        ),
    ] = None,
    stop_words: Annotated[
        str, typer.Option(help="BM25 stop words: en, none, or a file with one word per line.")
    ] = "en",
    k1: Annotated[float | None, typer.Option(help="BM25 k1 (default: the analyser's, 1.2).")] = None,
    b: Annotated[float | None, typer.Option(help="BM25 b (default: the analyser's, 0.9).")] = None,
    fusion: Annotated[
        str, typer.Option(help="Hybrid fusion: zscore (peak-weighted, default), zsum or rrf.")
    ] = "zscore",
    keyword_weight: Annotated[
        float, typer.Option(help="Hybrid: weight of the keyword run in the fusion (dense: 1).")
    ] = 1.0,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read or write the embedding cache.")
    ] = False,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: one per core).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
    backend: Annotated[
        str | None, typer.Option(help="auto, torch, onnx or onnx-int8 for text models (default auto).")
    ] = None,
) -> None:
    """Evaluate a model on tasks: JSON per task (MTEB layout), summary.md, plots; or --compare runs."""
    setup_runtime(threads, verbose)
    from omnivec import evaluate as ev
    from omnivec.evaluate.ann import AnnSettings

    if list_tasks:
        typer.echo("\n".join(ev.list_task_names()))
        return
    if not tasks:
        raise InputError("no task", "one or more task names or BEIR folders", "run `omnivec eval --list`")
    if compare:
        _print_comparison(ev.compare([Path(t) for t in tasks], out or Path("results") / "compare"))
        return
    settings = ev.EvalSettings(
        tasks, model=model, retriever=retriever, title_mode=title_mode,  # type: ignore[arg-type]
        max_length=max_length, backend=backend, batch_tokens=batch_tokens, limit=limit, ocr_passages=ocr_passages,
        ann=AnnSettings() if ann else None, use_cache=not no_cache, data=data,
        out=out or ev.default_out(model, retriever), progress=True,
        keyword=_keyword_settings(stop_words, k1, b, fusion, keyword_weight),
    )  # fmt: skip
    run = ev.evaluate(settings, on_result=_print_result)
    if run.summary is not None:
        typer.echo(run.summary.read_text(encoding="utf-8"))


def _keyword_settings(
    stop_words: str, k1: float | None, b: float | None, fusion: str, keyword_weight: float
) -> KeywordSettings:
    from omnivec.evaluate import KeywordSettings
    from omnivec.search.fusion import Fusion
    from omnivec.search.tokens import STOP_WORD_LISTS, Analyzer

    words: str | list[str] = stop_words
    if stop_words not in STOP_WORD_LISTS:
        path = Path(stop_words)
        if not path.is_file():
            raise InputError(
                f"--stop-words {stop_words!r}", f"{', '.join(STOP_WORD_LISTS)} or a file of words",
                "pass --stop-words none, or the path of a file with one word per line",
            )  # fmt: skip
        words = [w.strip() for w in path.read_text(encoding="utf-8").splitlines() if w.strip()]
    base = Analyzer()
    analyzer = Analyzer(words, k1=base.k1 if k1 is None else k1, b=base.b if b is None else b)
    return KeywordSettings(analyzer, Fusion(fusion), (1.0, keyword_weight))  # type: ignore[arg-type]


def _print_result(result: TaskResult, path: Path | None) -> None:
    from omnivec.evaluate.report import settings_line, truncation_line

    task = result.task
    typer.echo(f"{task.name}: {settings_line(result.retriever)}")
    cut = truncation_line(result)
    typer.echo(
        f"{task.name}: {task.main_metric} {100 * result.main_score:.2f}{f'; {cut}' if cut else ''} -> {path}"
    )
    for sub in result.subsets:
        if sub.ann:
            typer.echo(f"  ann {sub.name}: {sub.ann}")


def _print_comparison(comparison: Comparison) -> None:
    typer.echo(comparison.markdown)
    for path in comparison.plots:
        typer.echo(f"wrote {path}")
