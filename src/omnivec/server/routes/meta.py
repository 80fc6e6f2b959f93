"""`GET /v1/models`, `GET /healthz`, `GET /metrics`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from omnivec.server.schemas import ModelCard, ModelList
from omnivec.server.security import authorised
from omnivec.stores.base import canonical_recipe

router = APIRouter(tags=["meta"])


@router.get("/v1/models", response_model=ModelList)
def models(request: Request) -> ModelList:
    """The models this server embeds with (OpenAI's list shape, plus what retrieval needs to know)."""
    pool = request.app.state.omnivec.pool
    cards = []
    for name, enc in pool.encoders.items():
        s = enc.spec
        cards.append(
            ModelCard(
                id=name, dimensions=enc.dim, modalities=list(s.modalities), max_length=s.max_length,
                takes_instruction=s.takes_instruction, tasks=sorted(s.instructions),
                matryoshka_dims=[int(d) for d in s.options.get("matryoshka_dims", ())],
                recipe=canonical_recipe(s.recipe()),
            )
        )  # fmt: skip
    return ModelList(data=cards)


@router.get("/healthz")
def healthz(request: Request) -> dict[str, Any]:
    """Liveness, and what is served: store names (for `store` fields) and model ids. A server with
    an API key answers a request without it with the status only: probes need no more, and the
    stores' paths and models are not for anyone who can reach the port."""
    state = request.app.state.omnivec
    key = state.settings.api_key
    if key and not authorised(request.scope, key.encode()):
        return {"status": "ok"}
    stores = [
        {"name": name, "path": str(idx.store_dir), "writable": idx.writer,
         "collections": {c.name: c.count for c in idx.store.collections()}}
        for name, idx in state.stores.items()
    ]  # fmt: skip
    return {"status": "ok", "stores": stores, "models": state.pool.names()}


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text format: requests and latency per route, batch sizes, queue depth."""
    body, content_type = request.app.state.omnivec.metrics.render()
    return Response(body, media_type=content_type)
