"""The gate every request passes: API key or loopback Host, body size limit, and per-route metrics.

Without a key the server listens on loopback only, and then it also answers only requests whose
`Host` names loopback: a web page the user visits could otherwise point its own host name at
127.0.0.1 (DNS rebinding) and read the index through the user's browser, or write to it.

A plain ASGI middleware (not a FastAPI dependency), so a refused request costs no body parsing:
an oversized `Content-Length` is answered 413 before a byte of the body is read, and a chunked
body is counted as it arrives.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from omnivec.server.errors import error_body
from omnivec.server.metrics import Metrics
from omnivec.server.settings import ServerSettings, is_loopback

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: liveness probes carry no credentials; the page and its files hold no data (the page asks for
#: the key and sends it with each API call)
OPEN_PATHS = ("/healthz", "/", "/static/app.js", "/static/highlight.js", "/static/style.css")


class Guard:
    def __init__(self, app: ASGIApp, settings: ServerSettings, metrics: Metrics) -> None:
        self.app, self.settings, self.metrics = app, settings, metrics
        self._key = settings.api_key.encode() if settings.api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._guarded(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(
                path, scope.get("method", ""), status[0], time.perf_counter() - start
            )

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = _header(scope, b"host")
        if self._key is None and host is not None and not is_loopback(host_name(host)):
            await _reply(send, 421, f"a request for host {host[:80]!r} on a server without an API key; expected "
                         "a loopback host (localhost, 127.0.0.1, [::1]). Fix: use http://127.0.0.1:PORT, or "
                         "start the server with an API key to serve other host names", "untrusted_host")  # fmt: skip
            return
        if self._key is not None and scope.get("path") not in OPEN_PATHS and not self._authorised(scope):
            await _reply(send, 401, "a request without a valid API key; expected the header "
                         "'Authorization: Bearer <key>'. Fix: send the key the server was started with",
                         "invalid_api_key")  # fmt: skip
            return
        limit = self.settings.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _reply(send, 413, _too_large(int(declared), limit), "request_too_large")
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
            if len(body) > limit:
                await _reply(send, 413, _too_large(len(body), limit, at_least=True), "request_too_large")
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    def _authorised(self, scope: Scope) -> bool:
        assert self._key is not None
        return authorised(scope, self._key)


def authorised(scope: Scope, key: bytes) -> bool:
    """Whether the request carries `key` (`Authorization: Bearer KEY` or `X-API-Key: KEY`)."""
    given = _header(scope, b"authorization") or ""
    token = given[7:].strip() if given[:7].lower() == "bearer " else (_header(scope, b"x-api-key") or "")
    return hmac.compare_digest(token.encode(), key)


def host_name(host: str) -> str:
    """The name in a Host header, without its port: `[::1]:8000` -> `::1`."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _too_large(size: int, limit: int, at_least: bool = False) -> str:
    return (
        f"a request body of {'more than ' if at_least else ''}{size} bytes; expected at most {limit} "
        "bytes (--max-body-mb). Fix: send fewer or smaller inputs per request"
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the client's disconnect as usual

    return replay


async def _reply(send: Send, status: int, message: str, code: str) -> None:
    kind = "authentication_error" if status == 401 else "invalid_request_error"
    payload = json.dumps(error_body(message, kind, None, code)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
