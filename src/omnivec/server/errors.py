"""One place that turns failures into HTTP answers, in OpenAI's error shape.

`{"error": {"message", "type", "param", "code"}}`: domain errors (`OmnivecError`) become 4xx with
their received / expected / fix message; anything else is logged and answered with a plain 500.
"""

from __future__ import annotations

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
