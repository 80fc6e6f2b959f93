"""`omnivec index`, `status` and `watch`: thin commands over `omnivec.api.Index`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from omnivec.cli.app import StoreOpt, app
from omnivec.cli.output import safe_name
from omnivec.runtime import setup_runtime


@app.command()
def index(
    path: Annotated[Path, typer.Argument(help="Repository or folder to index.")] = Path("."),
    store: StoreOpt = None,
    model: Annotated[str | None, typer.Option(help="Text/code model (default: the bundled MiniLM).")] = None,
    image_model: Annotated[str | None, typer.Option(help="Image model; 'none' to skip images.")] = "default",
    screenshot_model: Annotated[
        str | None, typer.Option(help="Page-image model; 'none' to skip.")
    ] = "default",
    max_file_mb: Annotated[float, typer.Option(help="Skip files larger than this.")] = 2.0,
    render_docs: Annotated[
        bool,
        typer.Option(
            help="Also screenshot HTML/Markdown pages (headless Chromium) for the page-image model."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: one per core).")] = None,
    rebuild: Annotated[
        bool, typer.Option(help="Repair the store first (as `omnivec repair`), then index.")
    ] = False,
) -> None:
    """Index PATH incrementally: unchanged files cost nothing, deleted files are dropped."""
    setup_runtime(threads)
    from omnivec.api import Index

    if not path.is_dir():
        typer.secho(f"error: {path} is not a folder; expected a repository or folder to index.", err=True)
        raise typer.Exit(2)
    if rebuild:
        _repair_first(path, store)
    with Index.create(
        path, store, text_model=model, image_model=_none(image_model),
        screenshot_model=_none(screenshot_model), max_file_bytes=int(max_file_mb * 1e6), render_docs=render_docs,
    ) as idx, _Progress() as progress:  # fmt: skip
        report = idx.update(progress=progress)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    _print_report(report.as_dict())


def _repair_first(path: Path, store: str | None) -> None:
    from omnivec.index.discovery import default_store
    from omnivec.index.repair import repair_store
    from omnivec.stores.sqlite_schema import DB_NAME
    from omnivec.stores.uri import store_folder

    sdir = store_folder(store) if store else default_store(path.resolve())
    if (sdir / DB_NAME).is_file():  # nothing to repair in a store that does not exist yet
        for line in repair_store(sdir).summary():
            typer.echo(safe_name(line), err=True)


def _none(value: str | None) -> str | None:
    return None if value in (None, "none", "") else value


def _print_report(r: dict[str, Any]) -> None:
    s = r["seconds"]
    total = sum(s.values()) or 1.0
    typer.echo(
        f"files seen {r['seen']}, indexed {r['indexed']}, unchanged {r['unchanged']}, "
        f"removed {r['removed']}, skipped {r['skipped']}; chunks {r['chunks']}, truncated {r['truncated']}"
    )
    typer.echo(
        "time "
        + ", ".join(f"{k} {v:.2f}s ({100 * v / total:.0f}%)" for k, v in s.items())
        + f"; total {total:.2f}s"
    )
    for skip in r["skips"][:50]:
        typer.echo(f"  skipped {safe_name(skip['path'])}: {safe_name(skip['reason'])}")
    if len(r["skips"]) > 50:
        typer.echo(f"  ... and {len(r['skips']) - 50} more (use --json for all)")


class _Progress:
    """A transient spinner with the current file, on terminals only."""

    def __enter__(self) -> Any:
        if not sys.stderr.isatty():
            self.live = None
            return None
        from rich.progress import Progress, SpinnerColumn, TextColumn

        self.live = Progress(
            SpinnerColumn(), TextColumn("{task.completed} files  {task.description}"), transient=True
        )
        self.live.start()
        task = self.live.add_task("", total=None)
        return lambda path: self.live.update(task, advance=1, description=path[-60:])  # type: ignore[union-attr]

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()


@app.command()
def status(
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Plain JSON output.")] = False,
) -> None:
    """What is indexed, with which model and recipe, sizes, last update."""
    from omnivec.api import Index
    from omnivec.index.discovery import find_store

    with Index.open(store or find_store(Path.cwd())) as idx:
        info = idx.status()
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    typer.echo(
        f"store {info['store']} (root {info['root']}): {info['files']} files, {info['skipped_files']} skipped"
    )
    for c in info["collections"]:
        typer.echo(
            f"  {c['name']}: {c['chunks']} chunks, {c['model']} dim {c['dim']}, updated {c['updated']}"
        )
        typer.echo(f"    recipe {json.dumps(c['recipe'], default=str)}")


@app.command()
def watch(
    path: Annotated[Path, typer.Argument(help="Folder to keep indexed.")] = Path("."),
    store: StoreOpt = None,
    model: Annotated[str | None, typer.Option(help="Text/code model.")] = None,
    debounce_ms: Annotated[int, typer.Option(help="Wait this long for changes to settle.")] = 500,
) -> None:
    """Index PATH, then keep the index current as files change (Ctrl-C to stop)."""
    setup_runtime()
    from omnivec.api import Index
    from omnivec.index.watch import watch_and_update

    with Index.create(path, store, text_model=model) as idx:
        for report in watch_and_update(idx, debounce_ms=debounce_ms):
            r = report.as_dict()
            typer.echo(
                f"indexed {r['indexed']}, removed {r['removed']}, skipped {r['skipped']}, unchanged {r['unchanged']}"
            )
