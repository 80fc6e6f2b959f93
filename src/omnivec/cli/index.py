"""`omnivec index`, `status` and `watch`: thin commands over `omnivec.api.Index`."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from omnivec.cli.app import StoreOpt, app
from omnivec.cli.output import console, safe_name
from omnivec.cli.progress import print_report, progress_display
from omnivec.errors import InputError
from omnivec.index.discovery import check_root_folder, check_store_placement
from omnivec.runtime import setup_runtime

MoveRootOpt = Annotated[
    bool,
    typer.Option(
        "--move-root",
        help="Re-point a store built from another folder at PATH (that folder's files leave the index).",
    ),
]


@app.command()
def index(
    path: Annotated[Path, typer.Argument(help="Repository or folder to index.")] = Path("."),
    store: StoreOpt = None,
    model: Annotated[str | None, typer.Option(help="Text/code model (default: the bundled MiniLM).")] = None,
    image_model: Annotated[str | None, typer.Option(help="Image model; 'none' to skip images.")] = "default",
    screenshot_model: Annotated[
        str | None, typer.Option(help="Page-image model; 'none' to skip.")
    ] = "default",
    max_file_mb: Annotated[float, typer.Option(help="Skip text files larger than this.")] = 2.0,
    render_docs: Annotated[
        bool,
        typer.Option(
            help="Also screenshot HTML/Markdown pages (headless Chromium) for the page-image model."
        ),
    ] = False,
    follow_links: Annotated[
        bool, typer.Option(help="Follow symlinks that lead outside the folder (skipped by default).")
    ] = False,
    include_secrets: Annotated[
        bool, typer.Option(help="Index key and credential files (.env, id_rsa, *.pem; skipped by default).")
    ] = False,
    include_generated: Annotated[
        bool, typer.Option(help="Index lock files, source maps and minified code (skipped by default).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: one per core).")] = None,
    rebuild: Annotated[
        bool, typer.Option(help="Repair the store first (as `omnivec repair`), then index.")
    ] = False,
    engine: Annotated[
        str, typer.Option(help="Where embedding runs: 'local' (this process) or 'ray' (a Ray cluster).")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(help="Ray cluster to join ('auto', 'ray://HOST:10001'); default: a local one."),
    ] = None,
    embed: Annotated[
        bool,
        typer.Option(help="Embed in this run (--no-embed: keyword-searchable only; the next run embeds)."),
    ] = True,
    move_root: MoveRootOpt = False,
) -> None:
    """Index PATH incrementally: unchanged files cost nothing, deleted files are dropped."""
    started = time.perf_counter()
    check_paths(path, store)
    if engine not in ("local", "ray") or (ray_address and engine != "ray"):
        raise InputError(f"--engine {engine}" + (f" with --ray-address {ray_address}" if ray_address else ""),
                         "--engine local, or --engine ray [--ray-address ADDR]", "pick one of the two engines")  # fmt: skip
    setup_runtime(threads)
    if rebuild:
        _repair_first(path, store)
    with contextlib.ExitStack() as stack:
        runner = stack.enter_context(_ray_engine(ray_address)) if engine == "ray" else None
        report = _index(path, store, runner, model=model, image_model=image_model,
                        screenshot_model=screenshot_model, max_file_mb=max_file_mb, render_docs=render_docs,
                        follow_links=follow_links, include_secrets=include_secrets,
                        include_generated=include_generated, embed=embed, move_root=move_root)  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    print_report(report.as_dict(), time.perf_counter() - started)


def check_paths(path: Path, store: str | None, purpose: str = "a repository or folder to index") -> None:
    """PATH must be a folder, and a store folder must not be it or hold it: checked before
    anything is created, so a typo leaves no store behind."""
    from omnivec.stores.uri import is_local, store_folder

    root = check_root_folder(path, purpose)
    if store and is_local(store):
        check_store_placement(root, store_folder(store))


def _ray_engine(address: str | None) -> Any:
    import logging

    from omnivec.index.ray_engine import RayEngine

    # the run's progress and summary are omnivec's, as in a local run; Ray's INFO lines are noise
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return RayEngine(address=address)


def _index(path: Path, store: str | None, runner: Any, *, model: str | None, image_model: str | None,
           screenshot_model: str | None, max_file_mb: float, render_docs: bool, follow_links: bool,
           include_secrets: bool, include_generated: bool, embed: bool, move_root: bool) -> Any:  # fmt: skip
    from omnivec.api import Index

    with Index.create(
        path, store, text_model=model, image_model=_none(image_model),
        screenshot_model=_none(screenshot_model), max_file_bytes=int(max_file_mb * 1e6),
        render_docs=render_docs, follow_links=follow_links, include_secrets=include_secrets,
        include_generated=include_generated, move_root=move_root,
    ) as idx, progress_display() as progress:  # fmt: skip
        return idx.update(progress=progress, engine=runner, embed=embed)


def _repair_first(path: Path, store: str | None) -> None:
    from omnivec.index.discovery import default_store
    from omnivec.index.repair import repair_store
    from omnivec.index.settings_repair import recover_config
    from omnivec.stores.sqlite_schema import DB_NAME
    from omnivec.stores.uri import store_folder

    root = path.resolve()
    sdir = store_folder(store) if store else default_store(root)
    if (sdir / DB_NAME).is_file():  # nothing to repair in a store that does not exist yet
        for line in repair_store(sdir, root).summary():
            typer.echo(safe_name(line), err=True)
    elif (kept := recover_config(sdir, root)) is not None:  # settings without a database: nothing indexed
        typer.echo(safe_name(f"{sdir}: index.json was damaged; kept as {kept}"), err=True)


def _none(value: str | None) -> str | None:
    return None if value in (None, "none", "") else value


@app.command()
def status(
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Plain JSON output.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Also show each model's recipe.")] = False,
) -> None:
    """What is indexed, with which model, how big, when last updated (recipes with -v or --json)."""
    from omnivec.api import Index
    from omnivec.index.discovery import find_store

    with Index.open(store or find_store(Path.cwd())) as idx:
        info = idx.status()
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    from rich.table import Table

    out = console()
    out.print(f"store {safe_name(info['store'])}")
    out.print(f"root  {safe_name(info['root'])}: {info['files']} files indexed, {_skipped(info)}")
    table = Table(box=None, pad_edge=False)
    for col in ("collection", "model", "dim", "chunks", "embedded", "keyword", "updated"):
        table.add_column(col, justify="right" if col in ("dim", "chunks", "embedded") else "left")
    for c in info["collections"]:
        done = c["chunks"] - c.get("pending", 0)
        share = f"{done:,}" if done == c["chunks"] else f"{done:,} ({done / c['chunks']:.0%})"
        table.add_row(c["name"], c["model"], str(c["dim"]), f"{c['chunks']:,}", share,
                      c["keyword_engine"], c["updated"])  # fmt: skip
    out.print(table)
    if info["embedded_share"] < 1:
        out.print(
            f"{info['embedded_share']:.1%} of chunks embedded: keyword search sees every file, dense"
            " search only the embedded part; `omnivec index` embeds the rest"
        )
    out.print(f"on disk {info['stats'].get('bytes', 0) / 1e6:.1f} MB")
    if verbose:
        for c in info["collections"]:
            out.print(f"recipe of {c['name']}: {json.dumps(c['recipe'], default=str)}")
        for skip in (info["last_update"] or {}).get("skips", []):
            out.print(f"skipped {safe_name(skip['path'])}: {safe_name(skip['reason'])}")


def _skipped(info: dict[str, Any]) -> str:
    """The last update's skips, under the name its report used; the ledger does not hold them."""
    last = info["last_update"]
    if last is None:
        return "skips not recorded yet (the next `omnivec index` records them)"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(last["finished"]))
    if not last["skipped"]:
        return f"none skipped by the last update ({when})"
    listed = "them" if last["skipped"] <= len(last["skips"]) else f"the first {len(last['skips'])}"
    return f"{last['skipped']} skipped by the last update ({when}; -v lists {listed})"


@app.command()
def watch(
    path: Annotated[Path, typer.Argument(help="Folder to keep indexed.")] = Path("."),
    store: StoreOpt = None,
    model: Annotated[str | None, typer.Option(help="Text/code model.")] = None,
    debounce_ms: Annotated[int, typer.Option(help="Wait this long for changes to settle.")] = 500,
    move_root: MoveRootOpt = False,
) -> None:
    """Index PATH, then keep the index current as files change (Ctrl-C to stop)."""
    check_paths(path, store, "a repository or folder to watch")  # as `index` does, before anything is made
    setup_runtime()
    from omnivec.api import Index
    from omnivec.index.watch import watch_and_update

    with Index.create(path, store, text_model=model, move_root=move_root) as idx:
        for report in watch_and_update(idx, debounce_ms=debounce_ms):
            r = report.as_dict()
            took = sum(r["seconds"].values())
            what = ", ".join(f"{safe_name(p)}" for p in r.get("changed", [])[:5])
            typer.echo(
                f"{time.strftime('%H:%M:%S')} indexed {r['indexed']}, removed {r['removed']}, "
                f"skipped {r['skipped']}, unchanged {r['unchanged']} in {took:.2f}s"
                + (f": {what}" if what else "")
            )
