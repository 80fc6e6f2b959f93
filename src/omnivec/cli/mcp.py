"""`omnivec mcp`: serve one repository's index to a coding agent over stdio (MCP)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from omnivec.cli.app import StoreOpt, app
from omnivec.cli.index import check_paths


@app.command()
def mcp(
    path: Annotated[
        Path | None, typer.Argument(help="Repository to serve (default: the index above the current folder).")
    ] = None,
    store: StoreOpt = None,
    model: Annotated[str | None, typer.Option(help="Text/code model (default: the index's own).")] = None,
    image_model: Annotated[str | None, typer.Option(help="Image model; 'none' to skip images.")] = "default",
    screenshot_model: Annotated[
        str | None, typer.Option(help="Page-image model; 'none' to skip.")
    ] = "default",
    watch: Annotated[
        bool, typer.Option("--watch/--no-watch", help="Keep the index current as files change.")
    ] = True,
    debounce_ms: Annotated[int, typer.Option(help="Wait this long for changes to settle.")] = 300,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")] = False,
) -> None:
    """Serve search, find_related, index and status to a coding agent (MCP over stdio).

    Only the protocol goes to stdout; logs go to stderr.
    """
    from omnivec.errors import require
    from omnivec.runtime import setup_runtime

    require("mcp", "mcp", "the MCP server")  # before anything is opened: a missing SDK costs nothing
    if path is not None:  # as `index` checks them: nothing is created for a typo
        check_paths(path, store, "a repository or folder to serve")
    setup_runtime(verbose=verbose)
    from omnivec.agent.mcp_server import serve_stdio
    from omnivec.agent.session import AgentOptions, AgentSession

    session = AgentSession.open(
        path, store, text_model=model, image_model=_none(image_model),
        screenshot_model=_none(screenshot_model), options=AgentOptions(watch=watch, debounce_ms=debounce_ms),
    )  # fmt: skip
    serve_stdio(session)


def _none(value: str | None) -> str | None:
    return None if value in (None, "none", "") else value
