"""The Typer app, process-wide setup (threads, logging), and error display for every command."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer

from omnivec.cli.output import safe_name
from omnivec.errors import OmnivecError

#: a folder, or `file://PATH`; URIs of other backends are refused until their extra registers them
StoreOpt = Annotated[
    str | None, typer.Option("--store", help="Index folder or store URI (default: PATH/.omnivec).")
]

app = typer.Typer(
    help="omnivec: index and search code, images and documents with BGE-style embedding models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# one module per command group; each registers its commands on `app` when imported
COMMAND_MODULES = (
    "omnivec.cli.embed", "omnivec.cli.index", "omnivec.cli.search", "omnivec.cli.eval", "omnivec.cli.mcp",
    "omnivec.cli.repair", "omnivec.cli.serve", "omnivec.cli.tune",
)  # fmt: skip


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"omnivec {version('omnivec')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """omnivec: index and search code, images and documents with BGE-style embedding models."""


def fail(exc: OmnivecError) -> Any:
    typer.secho(f"error: {safe_name(exc)}", err=True, fg=typer.colors.RED)
    sys.exit(2)


def main() -> None:
    for mod in COMMAND_MODULES:
        importlib.import_module(mod)
    try:
        app()
    except OmnivecError as exc:
        fail(exc)
