"""Domain errors. Every message says what was received, what was expected, and how to fix it."""

from __future__ import annotations

import json
from typing import Any


class OmnivecError(Exception):
    """Base class for every error omnivec raises on purpose."""

    def __init__(self, received: str, expected: str, fix: str, *, param: str | None = None) -> None:
        self.received = received
        self.expected = expected
        self.fix = fix
        self.param = param  # the argument at fault, by its API name (`k`, `type`), when there is one
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


def validation_message(errors: list[Any], schema_hint: str) -> tuple[str, str | None]:
    """A pydantic validation failure (`ValidationError.errors()`) as one sentence saying what was
    received and what is expected, and the first parameter at fault. The HTTP API and the MCP
    server both answer with it; `schema_hint` says where their schema is."""
    parts, param = [], None
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx", {}).get("error", "")
            at = f" at character {loc[0]}" if loc else ""
            parts.append(f"malformed JSON ({ctx}{at}); expected a JSON object")
            continue
        if not loc and isinstance(err.get("input"), (bytes, str)):  # a body not parsed as JSON
            parts.append("a request body that was not read as JSON; expected a JSON object. Fix: send "
                         "the header 'content-type: application/json'")  # fmt: skip
            continue
        where = ".".join(loc) or "the request body"
        param = param or (loc[0] if loc else None)
        if err.get("type") == "value_error":  # a check of a whole object: its message says it all
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            parts.append(f"{where}: {msg}" if loc else msg)
            continue
        if err.get("type") == "missing":  # its input is the object that lacks it: not worth echoing
            parts.append(f"{where}: missing; expected this required field")
            continue
        got = json.dumps(err.get("input"), default=str)
        got = got if len(got) <= 80 else got[:77] + "..."
        parts.append(f"{where}: received {got}; expected {_expected(err)}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more + f". {schema_hint}", param


def _expected(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "a valid value"))
    if err.get("type") == "extra_forbidden":
        return "no such field (unknown fields are refused so typos do not pass silently)"
    return msg[0].lower() + msg[1:] if msg else "a valid value"
