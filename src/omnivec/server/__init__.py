"""The HTTP server: OpenAI-compatible embeddings, search, items and documents over the library.

>>> from omnivec.server import ServerSettings, create_app        # doctest: +SKIP
>>> app = create_app(ServerSettings(stores=(Path(".omnivec"),)))  # doctest: +SKIP

FastAPI and uvicorn come with the `server` extra; without it `create_app` raises
`MissingExtraError` naming the extra.
"""

from __future__ import annotations

from typing import Any

from omnivec.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]


def create_app(settings: ServerSettings, state: Any = None) -> Any:
    from omnivec.server.app import create_app as _create

    return _create(settings, state)
