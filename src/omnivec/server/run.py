"""Run the app on uvicorn: bind first (port 0 picks a free one), print the address, serve."""

from __future__ import annotations

import socket
import sys

from omnivec.errors import InputError, require
from omnivec.server.settings import ServerSettings


def serve(settings: ServerSettings, log_level: str = "warning") -> None:
    """Blocks until interrupted. The first stdout line is `omnivec serving on http://HOST:PORT`."""
    settings.check()  # refuse an exposed bind before loading anything
    uvicorn = require("uvicorn", "server", "omnivec serve")
    from omnivec.server.app import create_app

    app = create_app(settings)
    sock = _bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"omnivec serving on http://{shown}:{port}", flush=True)
    config = uvicorn.Config(
        app, log_level=log_level, access_log=False, server_header=False, timeout_keep_alive=30,
        lifespan="on",
    )  # fmt: skip
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        sys.stdout.flush()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise InputError(
            received=f"--host {host} --port {port}, which cannot be bound ({exc.strerror})",
            expected="a free port on an address of this machine",
            fix="pick another --port (0 picks a free one)",
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
