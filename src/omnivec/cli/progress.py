"""What `omnivec index` shows while it works and when it is done.

On a terminal: a progress bar of the bytes to embed, with files and chunks done, chunks/s and
the time left. Without one (CI, a pipe): one log line every few seconds on stderr.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

import typer

from omnivec.cli.output import safe_name
from omnivec.index.progress import IndexProgress, ProgressCallback

LOG_EVERY_S = 5.0


@contextlib.contextmanager
def progress_display() -> Iterator[ProgressCallback]:
    if sys.stderr.isatty():
        with _bar() as show:
            yield show
    else:
        yield _log_lines()


@contextlib.contextmanager
def _bar() -> Iterator[ProgressCallback]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(),
        TextColumn("{task.fields[files]} files  {task.fields[chunks]} chunks  {task.fields[rate]}"),
        TimeRemainingColumn(), transient=True,
    )  # fmt: skip
    task = bar.add_task("loading models", total=None, files="", chunks=0, rate="")

    def show(p: IndexProgress) -> None:
        bar.update(
            task, description=p.phase, total=p.bytes_total or None, completed=p.bytes_done,
            files=f"{p.files_done}/{p.files_total}", chunks=p.chunks_done,
            rate=f"{p.chunks_per_second:.0f}/s" if p.chunks_done else "",
        )  # fmt: skip

    with bar:
        yield show


def _log_lines() -> ProgressCallback:
    last = [time.monotonic()]  # a run shorter than LOG_EVERY_S logs nothing

    def log(p: IndexProgress) -> None:
        now = time.monotonic()
        if p.phase in ("loading models", "done") or now - last[0] < LOG_EVERY_S:
            return
        last[0] = now
        eta = f", about {p.eta_seconds:.0f}s left" if p.eta_seconds is not None else ""
        typer.echo(
            f"{p.phase}: {p.files_done}/{p.files_total} files, {p.chunks_done} chunks "
            f"({p.chunks_per_second:.1f}/s){eta}",
            err=True,
        )

    return log


def print_report(r: dict[str, Any], wall: float) -> None:
    """The run's summary: what changed, where the time went (model loading included), skips."""
    s = r["seconds"]
    if r["indexed"] == 0 and r["removed"] == 0:
        typer.echo(f"nothing changed: {r['unchanged']} files up to date, {r['skipped']} skipped")
    else:
        typer.echo(
            f"indexed {r['indexed']} files ({r['chunks']} chunks), removed {r['removed']}, "
            f"unchanged {r['unchanged']}, skipped {r['skipped']}; truncated chunks {r['truncated']}"
        )
    phases = ", ".join(f"{k} {v:.2f}s" for k, v in s.items())
    typer.echo(f"total {wall:.2f}s ({phases})")
    for skip in r["skips"][:50]:
        typer.echo(f"  skipped {safe_name(skip['path'])}: {safe_name(skip['reason'])}")
    if len(r["skips"]) > 50:
        typer.echo(f"  ... and {len(r['skips']) - 50} more (use --json for all)")
