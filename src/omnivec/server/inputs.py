"""The OpenAI `input` field -> `Item`s: strings, token arrays, and content parts (text + image).

Shapes accepted, as OpenAI documents them plus one extension:
- `"text"`, `["text", ...]`;
- token arrays: `[1, 2, 3]` (one input) or `[[1, 2], [3]]`, decoded with the model's tokenizer;
- an item given as content parts: `[{"type": "text", "text": ...}, {"type": "image_url",
  "image_url": {"url": "data:image/png;base64,..."}}]` is ONE composed item inside the input list,
  so `input=[[text_part, image_part]]`; a bare part in the list (`input=[image_part]`) is an item
  of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omnivec.errors import InputError
from omnivec.server.errors import APIError
from omnivec.server.images import load_image
from omnivec.types import Item

if TYPE_CHECKING:
    from omnivec.encoders.base import Encoder
    from omnivec.server.settings import ServerSettings

_EXPECTED = (
    "a string, a list of strings, a token array (list of ints) or a list of them, or a list of items "
    'made of content parts ({"type": "text", ...} / {"type": "image_url", ...})'
)


def parse_input(raw: Any, enc: Encoder, settings: ServerSettings) -> list[Item]:
    """Items in request order; every refusal names the input's position."""
    if isinstance(raw, str):
        return [Item(text=raw)]
    if not isinstance(raw, list) or not raw:
        got = "an empty list" if raw == [] else f"{type(raw).__name__} {str(raw)[:60]}"
        raise InputError(f"input: {got}", _EXPECTED, "send at least one input")
    if len(raw) > settings.max_inputs:
        raise APIError(
            413, f"input: {len(raw)} items", f"at most {settings.max_inputs} items per request",
            "split the inputs over several requests", param="input", code="too_many_inputs",
        )  # fmt: skip
    if all(_is_int(x) for x in raw):
        return [Item(text=decode_tokens(enc, raw, 0))]
    return [_item(x, i, enc, settings) for i, x in enumerate(raw)]


def _item(x: Any, i: int, enc: Encoder, settings: ServerSettings) -> Item:
    if isinstance(x, str):
        return Item(text=x)
    if isinstance(x, dict):
        return _parts([x], i, settings)
    if isinstance(x, list) and x and all(_is_int(t) for t in x):
        return Item(text=decode_tokens(enc, x, i))
    if isinstance(x, list) and x and all(isinstance(p, dict) for p in x):
        return _parts(x, i, settings)
    raise InputError(f"input #{i}: {type(x).__name__} {str(x)[:60]}", _EXPECTED, "fix that input")


def _parts(parts: list[dict[str, Any]], i: int, settings: ServerSettings) -> Item:
    texts: list[str] = []
    images: list[Any] = []
    for j, part in enumerate(parts):
        where = f"input #{i} part #{j}"
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url":
            spec = part.get("image_url")
            url = spec.get("url") if isinstance(spec, dict) else spec
            images.append(load_image(url, settings, where))
        else:
            raise InputError(
                received=f"{where}: {str(part)[:80]}",
                expected='{"type": "text", "text": "..."} or {"type": "image_url", "image_url": {"url": ...}}',
                fix="use one of the two part types",
            )
    if len(texts) > 1 or len(images) > 1:
        raise InputError(
            received=f"input #{i}: {len(texts)} text and {len(images)} image parts",
            expected="at most one text part and one image part per item (an image with its caption)",
            fix="send separate items as separate entries of the input list",
        )
    return Item(text=texts[0] if texts else None, image=images[0] if images else None,
                modality="image" if images else "text")  # fmt: skip


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def tokenizer_of(enc: Encoder) -> Any:
    """The tokenizer that reads the model's text, or None (hashing fakes, image-only models)."""
    return getattr(enc, "tokenizer", None) or getattr(enc.text_space, "tokenizer", None)


def decode_tokens(enc: Encoder, ids: list[int], i: int) -> str:
    tok = tokenizer_of(enc)
    if tok is None:
        raise InputError(
            received=f"input #{i}: token ids for model {enc.spec.name}, which has no tokenizer to decode them",
            expected="text inputs for this model",
            fix="send strings (LangChain: check_embedding_ctx_length=False)",
        )
    size = len(tok)
    bad = [t for t in ids if not 0 <= t < size]
    if bad:
        raise InputError(
            received=f"input #{i}: token ids {bad[:5]} outside the vocabulary of {enc.spec.name}",
            expected=f"ids from 0 to {size - 1} of this model's tokenizer (not tiktoken's)",
            fix="send strings instead (LangChain: check_embedding_ctx_length=False)",
        )
    return str(tok.decode(ids, skip_special_tokens=True))
