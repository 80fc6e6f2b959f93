"""`GET /` and `GET /static/{name}`: the search page, plain files shipped in `server/page/`.

The page holds no data: it calls the API from the browser, with the key the user types in when
the server has one. So these few paths are open (see `security.OPEN_PATHS`), and the page is sent
with a Content-Security-Policy that allows scripts and styles from this origin only (no inline
script, no eval), images from here or the page's own blob/data URLs, and requests to here only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from omnivec.server.errors import APIError

router = APIRouter(tags=["page"], include_in_schema=False)

PAGE_DIR = Path(__file__).resolve().parent.parent / "page"
#: the only files served: a name not in this table is a 404, so no path ever reaches the disk
STATIC = {"app.js": "text/javascript", "highlight.js": "text/javascript", "style.css": "text/css"}
PUBLIC_PATHS = ("/", *(f"/static/{name}" for name in STATIC))

CSP = "; ".join((
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob: data:",
    "connect-src 'self'", "form-action 'none'", "base-uri 'none'", "frame-ancestors 'none'",
))  # fmt: skip
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # a new version of the server never runs an old script
}


@router.get("/")
def index() -> FileResponse:
    """The search page."""
    return FileResponse(PAGE_DIR / "index.html", media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """The page's script and style sheet."""
    if name not in STATIC:
        raise APIError(
            404, f"static file {name!r}", f"one of {', '.join(sorted(STATIC))}",
            "open the page at / and let it load its own files", code="not_found",
        )  # fmt: skip
    return FileResponse(PAGE_DIR / name, media_type=f"{STATIC[name]}; charset=utf-8", headers=HEADERS)
