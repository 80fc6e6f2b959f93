"""`ServerSettings`: everything `omnivec serve` decides, as one frozen value (no environment reads)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from omnivec.errors import InputError

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


@dataclass(frozen=True)
class ServerSettings:
    """What the server serves and the limits it enforces.

    `models` are loaded at start for `/v1/embeddings` (besides the models of `stores`, which are
    shared, not loaded twice). `writable` opens the stores for writing, for `/v1/documents`.
    """

    stores: tuple[Path, ...] = ()
    models: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    allow_remote_images: bool = False
    cors_origins: tuple[str, ...] = ()
    writable: bool = False
    max_body_bytes: int = 32 * 1024 * 1024
    max_inputs: int = 2048  # inputs per embeddings request (OpenAI's own limit)
    max_image_pixels: int = 40_000_000
    max_remote_image_bytes: int = 20 * 1024 * 1024
    batch_wait_ms: float = 5.0
    batch_tokens: int | None = None  # the dynamic batcher's budget; default 4x the encoder's
    #: padded tokens per forward pass within a shared batch; default: the encoder's own, capped
    #: at `CPU_FORWARD_TOKENS` on a CPU (see `omnivec.server.models.forward_tokens`)
    forward_tokens: int | None = None

    def check(self) -> None:
        """Refuse settings that would expose the server: a non-loopback bind needs an API key."""
        if not is_loopback(self.host) and not self.api_key:
            raise InputError(
                received=f"--host {self.host}, which accepts connections from other machines, and no API key",
                expected="an API key whenever the server listens beyond loopback",
                fix="pass --api-key KEY (or set OMNIVEC_API_KEY), or bind --host 127.0.0.1",
            )
        key = self.api_key
        if key and (key != key.strip() or not (key.isascii() and key.isprintable())):
            raise InputError(  # a header cannot carry such a key intact: no request could authenticate
                received=f"an API key of {len(key)} characters with spaces around it or characters outside "
                "printable ASCII",
                expected="a key of printable ASCII characters that an 'Authorization: Bearer' header can carry",
                fix="generate one, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
            )
        limits = (("max_body_bytes", self.max_body_bytes), ("max_inputs", self.max_inputs),
                  ("forward_tokens", 1 if self.forward_tokens is None else self.forward_tokens))  # fmt: skip
        for name, value in limits:
            if value < 1:
                raise InputError(f"{name} = {value}", "a positive number", f"raise {name}")


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve to anything
