"""One place that turns failures into HTTP answers, in OpenAI's error shape.

`{"error": {"message", "type", "param", "code"}}`: domain errors (`OmnivecError`) become 4xx with
their received / expected / fix message; anything else is logged and answered with a plain 500.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from omnivec.errors import (
    InputError,
    MissingExtraError,
    ModelUnavailableError,
    OmnivecError,
    RecipeMismatchError,
    StoreError,
    UnknownModelError,
)

log = logging.getLogger(__name__)

#: status and OpenAI error `type` per domain error, most specific first
_STATUS: tuple[tuple[type[OmnivecError], int, str], ...] = (
    (UnknownModelError, 404, "invalid_request_error"),
    (ModelUnavailableError, 404, "invalid_request_error"),
    (RecipeMismatchError, 409, "invalid_request_error"),
    (StoreError, 409, "invalid_request_error"),
    (MissingExtraError, 501, "server_error"),
    (InputError, 400, "invalid_request_error"),
    (OmnivecError, 400, "invalid_request_error"),
)


class APIError(OmnivecError):
    """An error the server raises itself, with its HTTP status (413 limits, 401, 403, ...)."""

    def __init__(
        self, status: int, received: str, expected: str, fix: str, *, param: str | None = None,
        code: str | None = None, kind: str = "invalid_request_error",
    ) -> None:  # fmt: skip
        super().__init__(received, expected, fix)
        self.status, self.param, self.code, self.kind = status, param, code, kind


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def status_of(exc: OmnivecError) -> tuple[int, str, str | None]:
    """(HTTP status, OpenAI error type, code) for a domain error."""
    if isinstance(exc, APIError):
        return exc.status, exc.kind, exc.code
    for cls, status, kind in _STATUS:
        if isinstance(exc, cls):
            return status, kind, _code(cls)
    return 400, "invalid_request_error", None


def _code(cls: type[OmnivecError]) -> str | None:
    return {UnknownModelError: "model_not_found", ModelUnavailableError: "model_not_found"}.get(cls)


def validation_message(errors: list[Any]) -> tuple[str, str | None]:
    """A request-validation failure as one sentence saying what was received and what is expected."""
    parts, param = [], None
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx", {}).get("error", "")
            at = f" at character {loc[0]}" if loc else ""
            parts.append(f"malformed JSON ({ctx}{at}); expected a JSON object")
            continue
        where = ".".join(loc) or "the request body"
        param = param or (loc[0] if loc else None)
        got = json.dumps(err.get("input"), default=str)
        got = got if len(got) <= 80 else got[:77] + "..."
        parts.append(f"{where}: received {got}; expected {_expected(err)}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more + ". See /openapi.json for the request schema.", param


def _expected(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "a valid value"))
    if err.get("type") == "missing":
        return "this required field"
    if err.get("type") == "extra_forbidden":
        return "no such field (unknown fields are refused so typos do not pass silently)"
    return msg[0].lower() + msg[1:] if msg else "a valid value"
