"""The `omnivec` command: thin commands over library calls. Each command group has its own module."""

from __future__ import annotations

from omnivec.cli.app import app, main

__all__ = ["app", "main"]
