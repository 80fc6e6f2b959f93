"""`POST /v1/embeddings`: the OpenAI embeddings API, plus roles, instructions and images."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from omnivec.encoders.base import check_modalities
from omnivec.encoders.spec import EncoderSpec
from omnivec.errors import InputError
from omnivec.server.inputs import parse_input
from omnivec.server.schemas import EmbeddingsRequest, EmbeddingsResponse
from omnivec.types import as_items

router = APIRouter(tags=["embeddings"])


@router.post("/v1/embeddings", response_model=EmbeddingsResponse)
async def embeddings(body: EmbeddingsRequest, request: Request) -> Response:
    """Embed inputs; concurrent requests for one model share forward passes (dynamic batching)."""
    state = request.app.state.omnivec
    enc, suffix_role = state.pool.resolve(body.model)
    role = _role(body.input_type, suffix_role)
    instruction = _instruction(enc.spec, role, body.instruction, body.task)
    dims = _dimensions(enc.spec, enc.dim, body.dimensions)
    if _has_parts(body.input):  # images: decoding is CPU work, kept off the event loop
        raw = await run_in_threadpool(parse_input, body.input, enc, state.settings)
    else:
        raw = parse_input(body.input, enc, state.settings)
    items = as_items(raw)
    check_modalities(items, enc.spec)
    part = await asyncio.wrap_future(state.pool.submit(enc, items, role, instruction))
    vectors = _truncate(part.vectors, dims) if dims else part.vectors
    truncated = set(part.truncated)
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format),
         "truncated": i in truncated}
        for i, v in enumerate(vectors)
    ]  # fmt: skip
    payload = {
        "object": "list", "data": data, "model": enc.spec.name,
        "usage": {"prompt_tokens": part.tokens, "total_tokens": part.tokens},
    }  # fmt: skip
    # built by hand: validating thousands of floats through the response model costs more than the model
    return Response(json.dumps(payload), media_type="application/json")


def _role(input_type: str | None, suffix_role: str | None) -> Any:
    if input_type and suffix_role and input_type != suffix_role:
        raise InputError(
            received=f"input_type {input_type!r} with a model id ending in ':{suffix_role}'",
            expected="one role: the model suffix or input_type, not two that disagree",
            fix="drop one of them",
        )
    return input_type or suffix_role or "document"


def _instruction(spec: EncoderSpec, role: Any, instruction: str | None, task: str | None) -> str | None:
    """The instruction the encoder will use, checked now so a bad one is a 400 before queueing."""
    if task is not None:
        if instruction is not None:
            raise InputError("both an instruction and a task preset", "one of them", "pass only one")
        instruction = spec.instruction_for(task)
    return spec.resolve_instruction(role, instruction)


def _dimensions(spec: EncoderSpec, dim: int, wanted: int | None) -> int | None:
    """None when the model's own dimension is asked for; a Matryoshka size when the spec has it."""
    if wanted is None or wanted == dim:
        return None
    allowed = [int(d) for d in spec.options.get("matryoshka_dims", ())]
    if wanted in allowed:
        return wanted
    raise InputError(
        received=f"dimensions={wanted} for model {spec.name}",
        expected=(
            f"one of {[*allowed, dim]}" if allowed
            else f"no dimensions field (or {dim}): this model declares no Matryoshka dimensions, "
            "so cutting its vectors would silently lose accuracy"
        ),
        fix="drop the dimensions field",
    )  # fmt: skip


def _truncate(vectors: np.ndarray, dims: int) -> np.ndarray:
    """Matryoshka: keep the leading dims, then normalise again (cosine = dot product still holds)."""
    cut = vectors[:, :dims]
    return cut / np.maximum(np.linalg.norm(cut, axis=1, keepdims=True), 1e-12)


def _encode(vec: np.ndarray, fmt: str) -> Any:
    if fmt == "base64":
        return base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode("ascii")
    return vec.tolist()


def _has_parts(raw: Any) -> bool:
    return isinstance(raw, list) and any(isinstance(x, (dict, list)) and not _ints(x) for x in raw)


def _ints(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(t, int) for t in x)
