"""`create_app(settings)`: the FastAPI app over the library (no HTTP types below this package)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from omnivec.errors import OmnivecError, require
from omnivec.server.settings import ServerSettings
from omnivec.server.state import ServerState

log = logging.getLogger(__name__)


def create_app(settings: ServerSettings, state: ServerState | None = None) -> Any:
    """Build the app; opens the stores and loads the models now unless `state` is given."""
    require("fastapi", "server", "omnivec serve")
    from fastapi import FastAPI
    from fastapi.middleware.cors import CORSMiddleware

    from omnivec.server.routes import embeddings, meta, page, store
    from omnivec.server.security import Guard

    settings.check()
    state = state or ServerState.load(settings)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="omnivec",
        summary="OpenAI-compatible embeddings and hybrid search over code, images and screenshots",
        version=_version(),
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load their scripts from a CDN: blank offline, and
        # outside the page's Content-Security-Policy. The schema itself is at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.omnivec = state
    _install_error_handlers(app)
    for module in (embeddings, store, meta, page):
        app.include_router(module.router)
    # added first = inside: the guard sees every request; CORS outside it answers preflights,
    # which carry no credentials
    app.add_middleware(Guard, settings=settings, metrics=state.metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "x-api-key"],
        )  # fmt: skip
    return app


def _install_error_handlers(app: Any) -> None:
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    from omnivec.errors import validation_message
    from omnivec.server.errors import error_body, status_of

    @app.exception_handler(OmnivecError)
    async def domain(request: Any, exc: OmnivecError) -> JSONResponse:
        status, kind, code = status_of(exc)
        param = getattr(exc, "param", None)
        return JSONResponse(error_body(str(exc), kind, param, code), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Any, exc: RequestValidationError) -> JSONResponse:
        message, param = validation_message(list(exc.errors()), "See /openapi.json for the request schema.")
        return JSONResponse(error_body(message, "invalid_request_error", param), status_code=400)

    @app.exception_handler(HTTPException)
    async def http(request: Any, exc: HTTPException) -> JSONResponse:
        message = f"{request.method} {request.url.path}: {exc.detail}"
        if exc.status_code == 404:
            message += "; expected one of the routes in /openapi.json"
        return JSONResponse(error_body(message, "invalid_request_error"), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def crash(request: Any, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal server error (logged)", "server_error"), status_code=500)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("omnivec")
    except PackageNotFoundError:
        return "0"
