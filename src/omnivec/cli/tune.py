"""`omnivec tune`: fine-tune the text model on the indexed code, keep it in the store, re-embed."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from omnivec.cli.app import StoreOpt, app
from omnivec.cli.output import safe_name
from omnivec.runtime import setup_runtime
from omnivec.tune.pairs import DEFAULT_MAX_PAIRS
from omnivec.tune.train import DEFAULT_BUDGET_MINUTES


@app.command()
def tune(
    path: Annotated[Path, typer.Argument(help="The indexed folder.")] = Path("."),
    from_paths: Annotated[
        list[str] | None,
        typer.Option("--from", help="Mine pairs only from these folders or files (repeatable)."),
    ] = None,
    store: StoreOpt = None,
    budget_minutes: Annotated[
        float,
        typer.Option("--budget-minutes", help="Stop training cleanly after this many minutes (0: none)."),
    ] = DEFAULT_BUDGET_MINUTES,
    max_pairs: Annotated[
        int,
        typer.Option(
            "--max-pairs", help="Most training pairs, split 3:1 between docstring and halves pairs."
        ),
    ] = DEFAULT_MAX_PAIRS,
    epochs: Annotated[int, typer.Option("--epochs")] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", help="In-batch negatives per step.")] = 32,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    kinds: Annotated[
        str, typer.Option("--kinds", help="Pair kinds, comma-separated: docstring, halves.")
    ] = "docstring,halves",
    hard_negatives: Annotated[
        bool,
        typer.Option("--hard-negatives/--no-hard-negatives", help="Add a dense neighbour as a negative."),
    ] = True,
    cached: Annotated[
        bool, typer.Option("--cached", help="CachedMNRL: the same batch in less memory, a little slower.")
    ] = False,
    use: Annotated[
        str | None,
        typer.Option("--use", help="Only switch the text model: base, latest, or a tuned model's name."),
    ] = None,
    no_switch: Annotated[
        bool, typer.Option("--no-switch", help="Train and keep, but do not re-embed.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Adapt the text model to your code: pairs from docstrings and function halves, in-batch and
    hard negatives, sentence-transformers training on CPU; the store then searches with it."""
    setup_runtime()
    from omnivec.api import Index
    from omnivec.cli.progress import progress_display
    from omnivec.index.discovery import find_store
    from omnivec.stores.uri import store_folder
    from omnivec.tune.store import resolve_model, switch_text_model

    root = path.resolve()
    sdir = store_folder(store) if store else find_store(root)
    if use is not None:
        with Index.open(sdir) as idx:
            model = resolve_model(sdir, idx.config.text_model, use)
        with progress_display() as show:
            out = switch_text_model(sdir, model, progress=show)
        _print(out, as_json, [f"text model: {safe_name(model)}", _reembed_line(out)])
        return
    report = _run(sdir, from_paths or [], budget_minutes, max_pairs, epochs, batch_size, seed, kinds,
                  hard_negatives, cached, not no_switch)  # fmt: skip
    _print(report.as_dict(), as_json, _summary(report))


def _run(sdir: Path, from_paths: list[str], budget: float, max_pairs: int, epochs: int, batch: int,
         seed: int, kinds: str, hard: bool, cached: bool, switch: bool) -> Any:  # fmt: skip
    from omnivec.cli.progress import progress_display
    from omnivec.errors import InputError
    from omnivec.tune.pairs import PAIR_KINDS
    from omnivec.tune.run import TuneOptions, tune_index
    from omnivec.tune.train import TrainSettings

    wanted = tuple(k.strip() for k in kinds.split(",") if k.strip())
    bad = [k for k in wanted if k not in PAIR_KINDS]
    if bad or not wanted:
        raise InputError(
            f"--kinds {kinds}", f"a comma-separated list of {', '.join(PAIR_KINDS)}", "e.g. --kinds docstring"
        )
    settings = TrainSettings(
        epochs=epochs,
        batch_size=batch,
        budget_s=budget * 60 if budget > 0 else None,
        seed=seed,
        cached=cached,
    )
    options = TuneOptions(tuple(from_paths), wanted, max_pairs, hard, settings, switch)  # type: ignore[arg-type]
    with _train_bar() as show_train, progress_display() as show_index:
        return tune_index(sdir, options, progress=show_train, index_progress=show_index)


@contextlib.contextmanager
def _train_bar() -> Iterator[Any]:
    """A rich bar of training steps with the latest loss on a terminal; log lines on stderr otherwise."""
    if not sys.stderr.isatty():
        last = [-1]

        def log(step: int, total: int, loss: float | None) -> None:
            if step != last[0] and (step == total or step % 20 == 0):
                last[0] = step
                shown = "-" if loss is None else f"{loss:.4f}"
                typer.echo(f"training step {step}/{total} loss {shown}", err=True)

        yield log
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(), transient=True,
    )  # fmt: skip
    task = bar.add_task("training", total=None, loss="-")

    def show(step: int, total: int, loss: float | None) -> None:
        bar.update(task, completed=step, total=total or None, loss="-" if loss is None else f"{loss:.4f}")

    with bar:
        yield show


def _reembed_line(out: dict[str, Any] | None) -> str:
    if not out:
        return "store not re-embedded (--no-switch); switch with `omnivec tune --use latest`"
    if not out.get("switched"):
        return "store already uses this model"
    return f"re-embedded: {out.get('indexed', 0)} files, {out.get('chunks', 0)} chunks"


def _summary(r: Any) -> list[str]:
    t = r.train
    loss = "-" if t.loss_start is None else f"{t.loss_start:.4f} -> {t.loss_end:.4f}"
    stop = " (stopped at the time budget)" if t.stopped_by_budget else ""
    return [
        f"pairs: {', '.join(f'{k} {n}' for k, n in r.pairs.items())} from {r.functions} functions "
        f"({r.hard_negatives} with a hard negative)",
        f"training: {t.steps}/{t.planned_steps} steps{stop}, loss {loss}",
        f"time: mining {r.mining_wall_s:.1f} s; training {t.wall_s:.1f} s wall, {t.cpu_s:.1f} s CPU",
        f"model: {safe_name(r.model)} (fingerprint {r.fingerprint}, base {r.base_model})",
        _reembed_line(r.reembed),
        "switch back with `omnivec tune --use base`",
    ]


def _print(data: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    for line in lines:
        typer.echo(line)
