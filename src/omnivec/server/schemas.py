"""Request and response bodies (pydantic): the OpenAPI schema at /openapi.json comes from these.

Unknown fields are refused, as OpenAI's API does, so a misspelt option never passes silently.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    """A request body: unknown fields refused, and every string in it valid Unicode."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _valid_unicode(self) -> _Strict:
        # JSON may carry a lone surrogate ("\\ud800"); Python keeps it in a str that no
        # tokenizer, encoder or SQLite write accepts, so it is refused here, by its field
        where = _lone_surrogate(self, "")
        if where is not None:
            raise ValueError(
                f"a lone UTF-16 surrogate in {where}; expected text that is valid Unicode. Fix: send "
                "characters outside the BMP as surrogate pairs, or as UTF-8"
            )
        return self


def _lone_surrogate(value: Any, where: str) -> str | None:
    """The path of the first string in `value` that is not encodable as UTF-8 (or None). Walks
    the parsed body in place (no copy of a 32 MB request); ASCII strings cost a flag check."""
    if isinstance(value, str):
        if value.isascii():
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "the request"
        return None
    if isinstance(value, BaseModel):
        items: Any = ((name, getattr(value, name)) for name in type(value).model_fields)
    else:
        items = (
            value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        )
    for key, item in items:
        if isinstance(key, str) and _lone_surrogate(key, "") is not None:
            return f"a key of {where or 'the request'}"
        found = _lone_surrogate(item, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


class EmbeddingsRequest(_Strict):
    input: str | list[Any] = Field(
        description="A string, a list of strings, token ids (a list of ints, or a list of such lists), "
        "or items as content parts: [[{'type': 'text', 'text': ...}, {'type': 'image_url', "
        "'image_url': {'url': 'data:image/png;base64,...'}}]] is one composed item."
    )
    model: str = Field(description="A model id from GET /v1/models; ':query' / ':document' sets the role.")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="base64: little-endian float32 bytes, as the openai client expects."
    )
    dimensions: int | None = Field(None, description="Only for models that declare Matryoshka dims.")
    user: str | None = None
    input_type: Literal["query", "document"] | None = Field(
        None, description="omnivec extension: embed as search queries or as documents (default)."
    )
    instruction: str | None = Field(None, description="omnivec extension: a query instruction.")
    task: str | None = Field(None, description="omnivec extension: a preset instruction, e.g. coir:cosqa.")


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str
    truncated: bool


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "omnivec"
    dimensions: int | None
    modalities: list[str]
    max_length: int
    takes_instruction: bool
    tasks: list[str]
    matryoshka_dims: list[int]
    recipe: dict[str, Any]


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class SearchRequest(_Strict):
    text: str | None = Field(None, description="Query text (with `image`: a composed query).")
    image: str | None = Field(None, description="Query image as a data URL.")
    k: int = 10
    type: str = Field("any", description="code, doc, image, screenshot or any.")
    path: str | None = Field(None, description="Only paths matching this glob (SQLite GLOB).")
    languages: list[str] = Field(default_factory=list)
    mode: str = Field("hybrid", description="hybrid, dense or keyword.")
    group: bool = Field(False, description="One hit per file.")
    keyword_weight: float = 1.0
    store: str | None = Field(None, description="A store name from GET /healthz (default: the first).")


class SearchResponse(BaseModel):
    store: str
    keyword_engine: str | None = Field(
        description="What answered the keyword side: omnivec-bm25 (embedded store), omnivec-scan or "
        "milvus-bm25 (Milvus); null when the search ran none (dense mode, image queries)."
    )
    hits: list[dict[str, Any]] = Field(description="Exactly `omnivec search --json`'s hits.")


class DocumentIn(_Strict):
    id: str
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class DocumentsRequest(_Strict):
    upsert: list[DocumentIn] = Field(default_factory=list)
    delete: list[str] = Field(default_factory=list)
    store: str | None = None


class DocumentsResponse(BaseModel):
    store: str
    upserted: list[str]
    unchanged: list[str]
    deleted: list[str]
    not_found: list[str]
    chunks: int
