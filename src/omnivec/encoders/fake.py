"""A deterministic fake encoder, registered like a real family, for testing everything around models.

Vectors are a function of the rendered text only (a hash of its words), so identical inputs give
identical vectors and texts sharing words are similar: enough for ingest, store, search, CLI and
server tests that need no weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.encoders.base import Encoder, Prepared
from omnivec.encoders.registry import register_family, register_spec
from omnivec.encoders.spec import EncoderSpec, PaddingSide
from omnivec.types import Item, Role


@register_family("fake")
class FakeEncoder(Encoder):
    """Bag-of-hashed-words vectors; images are hashed by their bytes."""

    batch_tokens = 4096

    @classmethod
    def load(cls, spec: EncoderSpec, weights: str | Path, device: str | None = None) -> FakeEncoder:
        return cls(spec, fingerprint=f"fake-{spec.dim}")

    def preprocess(self, items: Sequence[Item], role: Role, instruction: str | None) -> list[Prepared]:
        out = []
        for it in items:
            text = self.spec.render(it.text or "", role, instruction)
            words = text.lower().split()
            if it.image is not None:
                words.append("image:" + it.content_hash())
            kept = words[: self.spec.max_length]
            out.append(
                Prepared(
                    data=kept, cost=len(kept), truncated=len(words) > len(kept), original_cost=len(words)
                )
            )
        return out

    def collate(self, prepared: Sequence[Prepared], padding_side: PaddingSide) -> Any:
        return [p.data for p in prepared]

    def forward(self, batch: Any) -> Any:
        dim = self.dim
        out = np.zeros((len(batch), dim), dtype=np.float32)
        for row, words in enumerate(batch):
            for w in words or ["<empty>"]:
                digest = hashlib.blake2b(w.encode(), digest_size=8).digest()
                seed = int.from_bytes(digest, "little")
                out[row] += np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
        return out


register_spec(
    EncoderSpec(
        name="omnivec/fake",
        family="fake",
        modalities=("text", "code", "image"),
        dim=32,
        max_length=512,
        query_template="{instruction}{text}",
        license="MIT",
        hardware="none (tests)",
        aliases=("fake",),
        description="Deterministic hashed bag-of-words vectors for tests; no weights",
    )  # fmt: skip
)
