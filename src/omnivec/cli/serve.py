"""`omnivec serve`: the HTTP server (OpenAI-compatible embeddings, search) on uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from omnivec.cli.app import app
from omnivec.runtime import setup_runtime


@app.command()
def serve(
    store: Annotated[
        list[str] | None,
        typer.Option("--store", help="Index folder to search (repeatable; first is default)."),
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Model for /v1/embeddings (repeatable).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind; beyond loopback an API key is required.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port (0 picks a free one; the address is printed).")] = 8000,
    api_key: Annotated[
        str | None, typer.Option(envvar="OMNIVEC_API_KEY", help="Require 'Authorization: Bearer KEY'.")
    ] = None,
    allow_remote_images: Annotated[
        bool, typer.Option(help="Fetch http(s) image URLs (off: only data URLs; SSRF).")
    ] = False,
    cors_origin: Annotated[
        list[str] | None, typer.Option("--cors-origin", help="Allow browser calls from this origin.")
    ] = None,
    writable: Annotated[
        bool, typer.Option(help="Open the stores for writing, for POST /v1/documents.")
    ] = False,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body.")] = 32.0,
    max_inputs: Annotated[int, typer.Option(help="Most inputs per embeddings request.")] = 2048,
    max_image_pixels: Annotated[int, typer.Option(help="Largest image (width x height).")] = 40_000_000,
    batch_wait_ms: Annotated[
        float, typer.Option(help="How long a forward pass waits for more requests to share it.")
    ] = 5.0,
    forward_tokens: Annotated[
        int | None,
        typer.Option(help="Padded tokens per forward pass (default: the model's own; at most 2048 on CPU)."),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: one per core).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve /v1/embeddings (OpenAI shape), /v1/search, /v1/items, /v1/documents and /metrics."""
    setup_runtime(threads)
    from omnivec.server.run import serve as run_server
    from omnivec.server.settings import ServerSettings

    settings = ServerSettings(
        stores=tuple(Path(s) for s in store or ()), models=tuple(model or ()), host=host, port=port,
        api_key=api_key or None, allow_remote_images=allow_remote_images,
        cors_origins=tuple(cors_origin or ()), writable=writable, max_body_bytes=int(max_body_mb * 2**20),
        max_inputs=max_inputs, max_image_pixels=max_image_pixels, batch_wait_ms=batch_wait_ms,
        forward_tokens=forward_tokens,
    )  # fmt: skip
    run_server(settings, log_level=log_level)
