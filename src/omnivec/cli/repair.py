"""`omnivec repair`: check a store, rebuild what is damaged, re-index what was lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from omnivec.cli.app import StoreOpt, app
from omnivec.cli.output import safe_name
from omnivec.runtime import setup_runtime


@app.command()
def repair(
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Repair a damaged index: keep what is readable, re-index the rest (your files are only read)."""
    setup_runtime()
    from omnivec.api import Index
    from omnivec.index.discovery import find_store

    report = Index.repair(store or find_store(Path.cwd()))
    if as_json:
        out = {
            "store": report.store, "problem": report.problem, "damaged_copy": report.damaged_copy,
            "kept": report.salvage.kept if report.salvage else None, "config_damaged_copy": report.config_copy,
            "update": report.update.as_dict() if report.update else None,
        }  # fmt: skip
        typer.echo(json.dumps(out, indent=2))
        return
    for line in report.summary():
        typer.echo(safe_name(line))
