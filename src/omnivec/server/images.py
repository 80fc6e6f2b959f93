"""Images that arrive in requests: data URLs, and remote URLs only when the operator allows them.

A server that fetches any URL it is handed can be steered at internal addresses (SSRF), so
`http(s)://` is refused unless `--allow-remote-images`; `file://` and other schemes always are.
Pixel counts are checked from the header, before the image is decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from typing import Any

from omnivec.errors import InputError, require
from omnivec.ingest.policy import one_line
from omnivec.server.errors import APIError
from omnivec.server.settings import ServerSettings

_DATA_URL = re.compile(
    r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,"
)


def load_image(url: Any, settings: ServerSettings, where: str) -> Any:
    """A PIL image (RGB) from a data URL, or from http(s) when allowed; refuses everything else."""
    if not isinstance(url, str) or not url:
        raise InputError(
            received=f"{where}: image_url {url!r}",
            expected='{"url": "data:image/png;base64,..."}',
            fix="send the image as a base64 data URL",
        )
    if url.startswith("data:"):
        return _decode(_data_bytes(url, where), settings, where)
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("http", "https"):
        if not settings.allow_remote_images:
            raise InputError(
                received=f"{where}: a remote image URL ({url[:80]})",
                expected="a data URL (data:image/png;base64,...): this server does not fetch URLs",
                fix="embed the image bytes as a data URL, or start the server with --allow-remote-images",
            )
        return _decode(_fetch(url, settings, where), settings, where)
    raise InputError(
        received=f"{where}: an image URL with scheme {scheme or 'none'!r} ({url[:80]})",
        expected="a data URL (data:image/png;base64,...); file paths are never read from requests",
        fix="send the image bytes as a base64 data URL",
    )


def _data_bytes(url: str, where: str) -> bytes:
    m = _DATA_URL.match(url)
    if m is None or not m.group("b64"):
        raise InputError(
            received=f"{where}: a data URL that is not base64 ({url[:40]}...)",
            expected="data:image/<type>;base64,<bytes>",
            fix="encode the image with base64 and prefix it with data:image/png;base64,",
        )
    try:
        return base64.b64decode(url[m.end() :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(
            received=f"{where}: a data URL whose payload is not valid base64 ({exc})",
            expected="standard base64 (A-Z, a-z, 0-9, +, /, = padding)",
            fix="encode with base64.b64encode(data).decode()",
        ) from exc


def _fetch(url: str, settings: ServerSettings, where: str) -> bytes:
    httpx = require("httpx", "server", "fetching remote images")
    limit = settings.max_remote_image_bytes
    buf = bytearray()
    try:
        with httpx.stream("GET", url, timeout=10.0, follow_redirects=False) as resp:
            resp.raise_for_status()
            for chunk in resp.iter_bytes():
                buf.extend(chunk)
                if len(buf) > limit:
                    raise APIError(
                        413, f"{where}: a remote image over {limit} bytes", f"at most {limit} bytes",
                        "send a smaller image", param="input",
                    )  # fmt: skip
    except httpx.HTTPError as exc:
        raise InputError(
            received=f"{where}: {url[:80]} could not be fetched ({type(exc).__name__}: {exc})",
            expected="a reachable image URL that answers 200 without a redirect",
            fix="send the image bytes as a data URL instead",
        ) from exc
    return bytes(buf)


def _decode(data: bytes, settings: ServerSettings, where: str) -> Any:
    pil = require("PIL.Image", "vision", "reading images")
    limit = settings.max_image_pixels
    try:
        img = pil.open(io.BytesIO(data))
        w, h = img.size
        if w * h > limit:
            raise _too_big(where, f"{w}x{h} = {w * h} pixels", limit)
        img.load()
    except pil.DecompressionBombError as exc:
        raise _too_big(where, "an image PIL refuses as a decompression bomb", limit) from exc
    except (OSError, SyntaxError, ValueError) as exc:  # PIL's ways of saying "not an image"
        reason = one_line(str(exc), 200) or type(exc).__name__  # without PIL's "<_io.BytesIO object ...>"
        raise InputError(
            received=f"{where}: {len(data)} bytes that are not a readable image ({reason})",
            expected="PNG, JPEG, WEBP, GIF, BMP or TIFF bytes",
            fix="check the data URL's payload",
        ) from exc
    return img.convert("RGB") if img.mode != "RGB" else img


def _too_big(where: str, what: str, limit: int) -> APIError:
    return APIError(
        413, f"{where}: {what}", f"at most {limit} pixels (--max-image-pixels)",
        "downscale the image before sending it", param="input", code="image_too_large",
    )  # fmt: skip
