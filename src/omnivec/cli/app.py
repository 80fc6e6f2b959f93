"""The Typer app, process-wide setup (threads, logging), and error display for every command."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import typer

from omnivec.errors import OmnivecError

app = typer.Typer(
    help="omnivec: index and search code, images and documents with BGE-style embedding models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# one module per command group; each registers its commands on `app` when imported
COMMAND_MODULES = ("omnivec.cli.embed",)


def setup_runtime(threads: int | None = None, verbose: bool = False) -> None:
    """Threads and logging are process-wide, so only the CLI (never the library) sets them."""
    from omnivec.config import default_threads

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    n = threads or default_threads()
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "torch" in sys.modules or _has("torch"):
        import torch

        torch.set_num_threads(n)
    if _has("transformers"):
        from transformers.utils import logging as tf_logging

        tf_logging.disable_progress_bar()
        tf_logging.set_verbosity_error()


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def fail(exc: OmnivecError) -> Any:
    typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
    sys.exit(2)


def main() -> None:
    for mod in COMMAND_MODULES:
        importlib.import_module(mod)
    try:
        app()
    except OmnivecError as exc:
        fail(exc)
