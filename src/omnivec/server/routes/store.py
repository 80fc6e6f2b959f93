"""`POST /v1/search`, `GET /v1/items/{id}`, `POST /v1/documents`: the routes over an index."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi import Query as Param
from fastapi.responses import FileResponse, JSONResponse

from omnivec.errors import InputError
from omnivec.index.documents import Document
from omnivec.search.query import Query
from omnivec.search.regions import matched_regions
from omnivec.server.errors import APIError
from omnivec.server.images import load_image
from omnivec.server.schemas import DocumentsRequest, DocumentsResponse, SearchRequest, SearchResponse

router = APIRouter(tags=["search"])
_documents_lock = threading.Lock()  # document calls read then write: one at a time per process

_ASSET_TYPES = {".webp": "image/webp", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@router.post("/v1/search", response_model=SearchResponse)
def search(body: SearchRequest, request: Request) -> JSONResponse:
    """The same hits as `omnivec search --json` for the same store and query."""
    state = request.app.state.omnivec
    image = load_image(body.image, state.settings, "image") if body.image is not None else None
    q = Query(
        text=body.text, image=image, k=body.k, type=body.type, path_glob=body.path,
        languages=tuple(body.languages), mode=body.mode, group_by_file=body.group,
        weights={"dense": 1.0, "keyword": body.keyword_weight},
    )  # fmt: skip
    name, idx = state.store(body.store)
    hits = idx.search(q)
    return JSONResponse(
        {"store": name, "keyword_engine": hits.keyword_engine, "hits": [h.to_dict() for h in hits]}
    )


@router.get("/v1/items/{item_id:path}")
def item(
    item_id: str,
    request: Request,
    store: str | None = None,
    image: Literal["thumbnail", "page"] | None = Param(None, description="Serve this image file."),
    q: str | None = Param(None, description="Query text: its words' boxes on a page come back."),
) -> Any:
    """A chunk by id; `?image=thumbnail|page` serves that file, from the store's assets folder only."""
    state = request.app.state.omnivec
    name, idx = state.store(store)
    rec = idx.searcher().store.get([item_id]).get(item_id)
    if rec is None:
        raise APIError(
            404, f"item id {item_id!r} in store {name!r}, which holds no such item",
            "an id from a search hit", "search first and use a hit's `id`", code="item_not_found",
        )  # fmt: skip
    regions = [list(r) for r in matched_regions(rec.fields.get("words"), q)]
    if image is not None:
        path = _asset(idx.store_dir, _image_field(rec.fields, image), image)
        headers = {"X-Omnivec-Regions": json.dumps(regions)}
        return FileResponse(path, media_type=_ASSET_TYPES.get(path.suffix, "application/octet-stream"),
                            headers=headers)  # fmt: skip
    fields = {k: v for k, v in rec.fields.items() if k != "words"}
    return JSONResponse({
        "id": rec.id, "store": name, "collection": rec.collection, "source": rec.source,
        "text": rec.text, "snippet": fields.get("display"), "regions": regions, "fields": fields,
    })  # fmt: skip


def _image_field(fields: Mapping[str, Any], which: str) -> Any:
    """The stored path of an item's thumbnail or page image; an OCR passage names its page's image
    in `page_image` (it carries no image of its own)."""
    if which == "thumbnail":
        return fields.get("thumbnail")
    return fields.get("image") or fields.get("page_image")


def _asset(store_dir: Path, value: Any, which: str) -> Path:
    """The file a record names, if (after following links) it lies inside the store's assets folder.

    Stored paths may be relative to where indexing ran: those are looked up under assets by their
    last two parts (`thumbs/<hash>.webp`, `pages/<hash>-p1.png`), never by the path itself.
    """
    assets = (store_dir / "assets").resolve()
    if not isinstance(value, str) or not value:
        raise APIError(404, f"an item without a {which} image", f"an item that has a {which} image",
                       "use ?image=thumbnail for images, ?image=page for page images", code="no_image")  # fmt: skip
    p = Path(value)
    candidate = p if p.is_absolute() else assets.joinpath(*p.parts[-2:])
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise APIError(404, f"the item's {which} image, which is missing from the store",
                       "a store whose assets are intact", "re-index the folder", code="no_image") from None  # fmt: skip
    if not real.is_relative_to(assets) or not real.is_file():
        raise APIError(
            403, f"the item's {which} image, which lies outside the store's assets folder",
            "files inside the store's assets folder: nothing else is served", "re-index the folder",
            code="outside_assets",
        )  # fmt: skip
    return real


@router.post("/v1/documents", response_model=DocumentsResponse)
def documents(body: DocumentsRequest, request: Request) -> JSONResponse:
    """Add, replace or delete pushed documents by id; one transaction per document."""
    state = request.app.state.omnivec
    name, idx = state.store(body.store)
    if not body.upsert and not body.delete:
        raise InputError("a documents request with nothing in upsert or delete",
                         "at least one document to upsert or id to delete", "fill one of the lists")  # fmt: skip
    if not idx.writer:
        raise APIError(
            403, f"a document update for store {name!r}, which this server opened read-only",
            "a server started with --writable", f"restart with `omnivec serve --store {idx.store_dir} --writable`",
            code="read_only",
        )  # fmt: skip
    docs = [Document(d.id, d.text, d.metadata) for d in body.upsert]
    with _documents_lock:
        report = idx.apply_documents(docs, body.delete)
    return JSONResponse({"store": name, **report.as_dict()})
