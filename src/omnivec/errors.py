"""Domain errors. Every message says what was received, what was expected, and how to fix it."""

from __future__ import annotations

from typing import Any


class OmnivecError(Exception):
    """Base class for every error omnivec raises on purpose."""

    def __init__(self, received: str, expected: str, fix: str) -> None:
        self.received = received
        self.expected = expected
        self.fix = fix
        super().__init__(f"{received}; expected {expected}. Fix: {fix}")


class InputError(OmnivecError, ValueError):
    """An input item, argument or file is not what the API accepts."""


class UnknownModelError(OmnivecError, KeyError):
    """A model name that is neither registered, a local folder, nor fetchable."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0] if self.args else ""


class ModelUnavailableError(OmnivecError):
    """A known model whose weights cannot be loaded here (offline, missing files)."""


class RecipeMismatchError(OmnivecError):
    """A query or store was built with a different model recipe than the collection."""


class MissingExtraError(OmnivecError, ImportError):
    """An optional dependency is not installed."""


class StoreError(OmnivecError):
    """The index on disk cannot be used as asked (locked, corrupt, wrong version)."""


def require(module: str, extra: str, purpose: str) -> Any:
    """Import an optional dependency or raise a `MissingExtraError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            received=f"{purpose} needs the Python module '{module}', which is not installed",
            expected=f"the optional extra 'omnivec[{extra}]'",
            fix=f"pip install 'omnivec[{extra}]'",
        ) from exc
