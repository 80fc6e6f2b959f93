"""The models a server process holds: loaded once at start, shared with its stores, and batched.

A request names a model by its registered name, an alias, or either with a role suffix
(`omnivec/fake:query`), for clients that cannot send `input_type` (one model id per role).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, get_args

from omnivec.errors import InputError, OmnivecError, UnknownModelError
from omnivec.server.batcher import Batcher, Slice
from omnivec.types import Item, Role

if TYPE_CHECKING:
    from concurrent.futures import Future

    from omnivec.encoders.base import Encoder
    from omnivec.server.metrics import Metrics
    from omnivec.server.settings import ServerSettings

log = logging.getLogger(__name__)

ROLE_SUFFIXES: tuple[str, ...] = get_args(Role)
#: padded tokens per forward pass on a CPU. Each forward pads its rows to the longest one; a
#: shared batch of short requests with a few long ones pads far less in small length-sorted
#: passes than in large ones, while 2048 tokens still make matrices large enough for the cores
#: (MiniLM on 512 lines of code: 8192 -> 2048 tokens per pass took a third less CPU; see the
#: serving section of docs/benchmarks.md). Accelerators keep the encoder's own budget.
CPU_FORWARD_TOKENS = 2048


class ModelPool:
    """Encoders by name, and one `Batcher` per (model, role, instruction)."""

    def __init__(self, encoders: Iterable[Encoder], settings: ServerSettings, metrics: Metrics) -> None:
        self.encoders: dict[str, Encoder] = {}
        for enc in encoders:
            self.encoders.setdefault(enc.spec.name, enc)
        self.settings = settings
        self.metrics = metrics
        self._batchers: dict[tuple[str, str, str | None], Batcher] = {}
        self._lock = threading.Lock()
        for name in self.encoders:
            metrics.track_queue(name, lambda name=name: self._depth(name))

    @classmethod
    def load(cls, names: Iterable[str], shared: Iterable[Encoder], settings: ServerSettings,
             metrics: Metrics) -> ModelPool:  # fmt: skip
        """Load `names`, reusing any of `shared` (the stores' encoders) that is the same model."""
        from omnivec.encoders.registry import load_encoder

        have = {e.spec.name: e for e in shared}
        for name in names:
            if _registered_name(name) not in have:
                enc = load_encoder(name)
                have[enc.spec.name] = enc
        return cls(have.values(), settings, metrics)

    def resolve(self, name: Any) -> tuple[Encoder, Role | None]:
        """The encoder a request's `model` names, and the role its suffix asks for (if any)."""
        if not isinstance(name, str) or not name:
            raise InputError(f"model {name!r}", f"one of {self.names()}", "pass model=<a listed id>")
        base, role = name, None
        for suffix in ROLE_SUFFIXES:
            if name.endswith(":" + suffix):
                base, role = name[: -len(suffix) - 1], suffix
        enc = self.encoders.get(base) or self.encoders.get(_registered_name(base))
        if enc is None:
            raise UnknownModelError(
                received=f"model {name!r}, which this server does not serve",
                expected=f"one of {', '.join(self.names())} (optionally with :query or :document)",
                fix="pick a model from GET /v1/models, or restart the server with --model NAME",
            )
        return enc, role  # type: ignore[return-value]

    def names(self) -> list[str]:
        return list(self.encoders)

    def submit(self, enc: Encoder, items: list[Item], role: Role, instruction: str | None) -> Future[Slice]:
        return self._batcher(enc, role, instruction).submit(items)

    def _batcher(self, enc: Encoder, role: Role, instruction: str | None) -> Batcher:
        key = (enc.spec.name, role, instruction)
        with self._lock:
            b = self._batchers.get(key)
            if b is None:
                per_pass = forward_tokens(enc, self.settings.forward_tokens)
                b = Batcher(
                    lambda items: enc.embed(items, role=role, instruction=instruction, batch_tokens=per_pass),
                    max_tokens=self.settings.batch_tokens or 4 * enc.batch_tokens,
                    max_wait_s=self.settings.batch_wait_ms / 1000,
                    on_batch=lambda n, r: self.metrics.observe_batch(enc.spec.name, n, r),
                    name=f"batch {enc.spec.name} {role}",
                )  # fmt: skip
                self._batchers[key] = b
            return b

    def _depth(self, name: str) -> int:
        with self._lock:
            return sum(b.depth for (model, _, _), b in self._batchers.items() if model == name)

    def close(self) -> None:
        with self._lock:
            batchers = list(self._batchers.values())
            self._batchers.clear()
        for b in batchers:
            b.close()


def forward_tokens(enc: Encoder, configured: int | None) -> int:
    """Padded tokens per forward pass: as configured, else the encoder's own budget, capped at
    `CPU_FORWARD_TOKENS` when the encoder says it runs on a CPU (the budget only groups rows:
    the vectors are the same)."""
    if configured:
        return configured
    on_cpu = str(getattr(enc, "device", "")) == "cpu"
    return min(enc.batch_tokens, CPU_FORWARD_TOKENS) if on_cpu else enc.batch_tokens


def _registered_name(name: str) -> str:
    """The registered name behind an alias; the name itself for folders and unknown names."""
    from omnivec.encoders.registry import get_spec

    try:
        return get_spec(name).name
    except OmnivecError:
        return name
