"""`omnivec eval`: score models on benchmark tasks, write results, compare runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from omnivec.cli.app import app
from omnivec.errors import InputError
from omnivec.runtime import setup_runtime

RETRIEVERS = ("dense", "bm25", "hybrid")


def evalsets_dir() -> Path:
    """`OMNIVEC_EVALSETS`, else `../shared/evalsets` beside the repository this package runs from."""
    env = os.environ.get("OMNIVEC_EVALSETS")
    if env:
        return Path(env).expanduser()
    import omnivec

    return Path(omnivec.__file__).resolve().parents[2].parent / "shared" / "evalsets"


def _default_out(model: str | None, retriever: str) -> Path:
    if retriever == "bm25":
        return Path("results") / "bm25"
    from omnivec.config import default_model

    name = (model or default_model()).rstrip("/").split("/")[-1]
    return Path("results") / (name if retriever == "dense" else f"{retriever}-{name}")


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
        str, typer.Option(help="dense (the model), bm25, or hybrid (RRF of both).")
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
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read or write the embedding cache.")
    ] = False,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: one per core).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
    backend: Annotated[
        str | None, typer.Option(help="torch, onnx or onnx-int8 for text models (default torch).")
    ] = None,
) -> None:
    """Evaluate a model on tasks: JSON per task (MTEB layout), summary.md, plots; or --compare runs."""
    setup_runtime(threads, verbose)
    if backend is not None:  # load_encoder's default: the one change here (evaluate is in flux)
        from omnivec.encoders.onnx_runtime import check_backend

        os.environ["OMNIVEC_BACKEND"] = check_backend(backend)
    from omnivec.evaluate import tasks as task_registry

    if list_tasks:
        typer.echo("\n".join(task_registry.list_task_names()))
        return
    if not tasks:
        raise InputError("no task", "one or more task names or BEIR folders", "run `omnivec eval --list`")
    if compare:
        _compare([Path(t) for t in tasks], out or Path("results") / "compare")
        return
    if retriever not in RETRIEVERS:
        raise InputError(f"--retriever {retriever}", " or ".join(RETRIEVERS), "pick one of them")
    if title_mode not in (None, "text", "title-text"):
        raise InputError(f"--title-mode {title_mode}", "text or title-text", "pick one of them")
    _evaluate(
        tasks, model, retriever, title_mode, max_length, batch_tokens, limit, out, data, no_cache, ann,
        ocr_passages,
    )  # fmt: skip


def _evaluate(
    names: list[str], model: str | None, kind: str, title_mode: str | None, max_length: int | None,
    batch_tokens: int | None, limit: int | None, out: Path | None, data: Path | None, no_cache: bool, ann: bool,
    ocr_passages: bool | None = None,
) -> None:  # fmt: skip
    from omnivec.config import cache_dir
    from omnivec.encoders.cache import EmbeddingCache
    from omnivec.encoders.registry import load_encoder
    from omnivec.evaluate import DataRoots, RunOptions, build_retriever, resolve_tasks, run_task
    from omnivec.evaluate.ann import AnnSettings
    from omnivec.evaluate.report import write_result, write_summary

    roots = DataRoots(evalsets=evalsets_dir(), data=data, cache=cache_dir() / "datasets")
    tasks = resolve_tasks(names, roots)
    encoder = None if kind == "bm25" else load_encoder(model, max_length=max_length)
    cache = None if no_cache or encoder is None else EmbeddingCache(cache_dir() / "embeddings.sqlite")
    ret = build_retriever(
        kind, encoder, cache, batch_tokens, progress=True, work_dir=_scratch(cache_dir()),
        ann=AnnSettings() if ann else None,
    )  # fmt: skip
    folder = out or _default_out(model, kind)
    options = RunOptions(
        title_mode=title_mode, limit=limit, ocr_passages=ocr_passages,  # type: ignore[arg-type]
        ocr_model=_bm25_ocr_model(model) if kind == "bm25" else None,
    )  # fmt: skip
    for task in tasks:
        result = run_task(task, ret, options)
        path = write_result(result, folder)
        typer.echo(f"{task.name}: {task.main_metric} {100 * result.main_score:.2f} -> {path}")
        for sub in result.subsets:
            if sub.ann:
                typer.echo(f"  ann {sub.name}: {sub.ann}")
    summary = write_summary(folder)
    _plots([folder], folder / "plots")
    typer.echo(summary.read_text(encoding="utf-8"))


def _bm25_ocr_model(model: str | None) -> str | None:
    """BM25 embeds nothing, but an OCR `--model` still gives it the text of image documents."""
    if model is None:
        return None
    from omnivec.encoders.registry import get_spec
    from omnivec.errors import OmnivecError

    try:
        return model if get_spec(model).family == "ocr" else None
    except OmnivecError:  # a checkpoint folder: not an OCR pipeline
        return None


def _scratch(base: Path) -> Path:
    path = base / "eval-scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _compare(folders: list[Path], out: Path) -> None:
    from omnivec.evaluate.report import compare_markdown, compare_table

    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise InputError(f"results folders {', '.join(missing)}", "existing folders", "check the paths")
    labels, table = compare_table(folders)
    typer.echo(compare_markdown(labels, table))
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text(compare_markdown(labels, table), encoding="utf-8")
    for path in _plots(folders, out):
        typer.echo(f"wrote {path}")


def _plots(folders: list[Path], out: Path) -> list[Path]:
    from omnivec.evaluate.plots import write_plots
    from omnivec.evaluate.report import compare_table, recall_curves

    labels, table = compare_table(folders)
    curves = {lab: recall_curves(f) for lab, f in zip(labels, folders)}
    return write_plots(labels, table, curves, out)
