"""What `omnivec index` shows while it works and when it is done.

On a terminal: a progress bar of the bytes to embed, with files and chunks done, chunks/s and
the time left. Without one (CI, a pipe): one log line every few seconds on stderr.
A progressive run shows two phases: files written (keyword-searchable), then a line saying
so after how long, then the embedding bar in chunks.
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

    announced = [False]

    def show(p: IndexProgress) -> None:
        if p.phase == "embedding":
            if not announced[0]:
                announced[0] = True
                bar.console.print(searchable_line(p))
            bar.update(
                task, description="embedding", total=p.embed_total or None, completed=p.embed_done,
                files=f"{p.files_done}/{p.files_total}", chunks=f"{p.embed_done}/{p.embed_total}",
                rate=f"{p.chunks_per_second:.0f}/s" if p.embed_done else "",
            )  # fmt: skip
            return
        bar.update(
            task, description=p.phase, total=p.bytes_total or None, completed=p.bytes_done,
            files=f"{p.files_done}/{p.files_total}", chunks=p.chunks_done,
            rate=f"{p.chunks_per_second:.0f}/s" if p.chunks_done else "",
        )  # fmt: skip

    with bar:
        yield show


def _log_lines() -> ProgressCallback:
    last = [time.monotonic()]  # a run shorter than LOG_EVERY_S logs nothing

    announced = [False]

    def log(p: IndexProgress) -> None:
        now = time.monotonic()
        if p.phase == "embedding" and not announced[0]:
            announced[0] = True
            typer.echo(searchable_line(p), err=True)
        if p.phase in ("loading models", "done") or now - last[0] < LOG_EVERY_S:
            return
        last[0] = now
        eta = f", about {p.eta_seconds:.0f}s left" if p.eta_seconds is not None else ""
        done = (
            f"{p.embed_done}/{p.embed_total} chunks embedded"
            if p.phase == "embedding"
            else f"{p.files_done}/{p.files_total} files, {p.chunks_done} chunks"
        )
        typer.echo(f"{p.phase}: {done} ({p.chunks_per_second:.1f}/s){eta}", err=True)

    return log


def searchable_line(p: IndexProgress) -> str:
    after = f" after {p.searchable_after:.1f}s" if p.searchable_after is not None else ""
    return f"keyword-searchable{after}: {p.files_total} files; embedding {p.embed_total} chunks"


def print_report(r: dict[str, Any], wall: float) -> None:
    """The run's summary: what changed, where the time went (model loading included), skips."""
    s = r["seconds"]
    typer.echo(summary_line(r))
    phases = ", ".join(f"{k} {v:.2f}s" for k, v in s.items())
    typer.echo(f"total {wall:.2f}s ({phases})")
    if r.get("searchable_after") is not None and (r["embedded"] or r["pending"]):
        left = f"; {r['pending']} still to embed (the next run embeds them)" if r["pending"] else ""
        typer.echo(
            f"keyword-searchable after {r['searchable_after']:.2f}s, {r['embedded']} chunks embedded{left}"
        )
    for skip in r["skips"][:50]:
        typer.echo(f"  skipped {safe_name(skip['path'])}: {safe_name(skip['reason'])}")
    if len(r["skips"]) > 50:
        typer.echo(f"  ... and {len(r['skips']) - 50} more (use --json for all)")


def summary_line(r: dict[str, Any]) -> str:
    """The report's first line. "nothing changed" only for a run that did nothing: a run that
    only embedded chunks an interrupted run left, or found nothing but files to skip, says so."""
    if r["indexed"] or r["removed"]:
        return (
            f"indexed {r['indexed']} files ({r['chunks']} chunks), removed {r['removed']}, "
            f"unchanged {r['unchanged']}, skipped {r['skipped']}; truncated chunks {r['truncated']}"
        )
    if r["embedded"]:
        return (
            f"embedded {r['embedded']:,} chunks left from an earlier run; "
            f"{r['unchanged']:,} files up to date, {r['skipped']:,} skipped"
        )
    if r["unchanged"] == 0:  # a skip repeats on every run; with no file indexed it is all there is
        found = f"{r['skipped']:,} found, all skipped" if r["skipped"] else "no files found"
        return f"indexed no files: {found}"
    return f"nothing changed: {r['unchanged']:,} files up to date, {r['skipped']:,} skipped"
