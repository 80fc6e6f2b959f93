"""The `Encoder` base class: owns batching, ordering, normalisation, caching and OOM back-off.

Families implement three hooks and nothing else:
- `preprocess(items, role, instruction)` -> one `Prepared` per item (tokenised once, with its cost),
- `collate(prepared, padding_side)` -> a model-ready batch,
- `forward(batch)` -> an unnormalised `(B, dim)` tensor or array.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivec.encoders.spec import EncoderSpec, PaddingSide
from omnivec.errors import InputError, OmnivecError
from omnivec.types import Item, Role, as_items, check_role

if TYPE_CHECKING:
    from omnivec.encoders.cache import EmbeddingCache

log = logging.getLogger(__name__)

IMAGE_MODALITIES = {"image", "screenshot"}


@dataclass
class Prepared:
    """One preprocessed item. `cost` is what counts against the batch budget (tokens, patches)."""

    data: Any
    cost: int
    truncated: bool = False
    original_cost: int = 0


@dataclass
class EncodeResult:
    """Vectors plus what happened on the way: which items were truncated, how many tokens ran."""

    vectors: np.ndarray
    truncated: list[int] = field(default_factory=list)
    tokens: int = 0
    #: tokens (or patches) each item cost, in input order; 0 for items served from the cache
    costs: list[int] = field(default_factory=list)
    cached: int = 0
    seconds: float = 0.0

    @property
    def items_per_second(self) -> float:
        return len(self.vectors) / self.seconds if self.seconds else 0.0


def has_text(item: Item) -> bool:
    return bool((item.text or "").strip())


def check_modalities(items: Sequence[Item], spec: EncoderSpec) -> None:
    """Refuse (by position) items this recipe cannot read, instead of silently dropping a part."""
    for i, it in enumerate(items):
        if it.image is not None and not IMAGE_MODALITIES & set(spec.modalities):
            raise InputError(
                received=f"input #{i}: an image item for model {spec.name}, which reads only "
                + ", ".join(spec.modalities),
                expected="text items",
                fix="use an image model such as BAAI/BGE-VL-base, or pass the item's text only",
            )
        if has_text(it) and "text" not in spec.modalities:
            raise InputError(
                received=f"input #{i}: text for model {spec.name}, which reads images only",
                expected="image items",
                fix="drop the text, or use a model that reads text",
            )


class Encoder(ABC):
    """Turns items into float32, L2-normalised vectors following `spec`'s recipe."""

    #: transformers `model_type` values this family can load from a local folder
    model_types: tuple[str, ...] = ()
    #: default token (or patch) budget per forward pass
    batch_tokens: int = 8192
    max_batch_size: int = 256
    #: items preprocessed at once: bounds memory while keeping length-sorting effective
    window: int = 2048

    def __init__(self, spec: EncoderSpec, fingerprint: str = "") -> None:
        self.spec = spec
        self._fingerprint = fingerprint or spec.name

    # --- family hooks -------------------------------------------------------------------
    @abstractmethod
    def preprocess(self, items: Sequence[Item], role: Role, instruction: str | None) -> list[Prepared]:
        """Render templates and tokenise; one `Prepared` per item, in order."""

    @abstractmethod
    def collate(self, prepared: Sequence[Prepared], padding_side: PaddingSide) -> Any:
        """Pad a list of prepared items into one model input."""

    @abstractmethod
    def forward(self, batch: Any) -> Any:
        """Run the model; return unnormalised pooled vectors, shape (B, dim)."""

    # --- public API ----------------------------------------------------------------------
    @property
    def dim(self) -> int:
        if self.spec.dim is None:
            raise OmnivecError("a spec without a dimension", "a loaded encoder", "load the model first")
        return self.spec.dim

    @property
    def text_space(self) -> Encoder:
        """The encoder that embeds this one's text-only items, vector for vector.

        Composite models (image or OCR pipelines over a text model) return their text model, so
        a caller searching several collections encodes a text query once per text model.
        """
        return self

    @property
    def fingerprint(self) -> str:
        """Identifies weights + recipe: vectors from equal fingerprints are interchangeable."""
        return f"{self._fingerprint}:{self.spec.recipe_hash()}"

    def identities(self) -> list[tuple[str, dict[str, Any]]]:
        """(fingerprint, recipe) pairs a store may hold vectors of this encoder's space under:
        its own first, then any other backend's shown to give equal vectors at load (see
        `omnivec.encoders.onnx_runtime`). `omnivec.stores.check_query_any` tries them in order."""
        return [(self.fingerprint, self.spec.recipe())]

    def with_max_length(self, max_length: int) -> Encoder:
        """Change the truncation length (part of the recipe, so it changes the fingerprint)."""
        self.spec = replace(self.spec, max_length=max_length)
        return self

    def encode(self, inputs: Iterable[str | bytes | Item], role: Role = "document", **kw: Any) -> np.ndarray:
        """Embed `inputs`; returns float32 `(N, dim)`, L2-normalised. See `embed` for options."""
        result = self.embed(inputs, role=role, **kw)
        if result.truncated:
            log.warning(
                "%d of %d items were truncated to %d tokens (positions %s)",
                len(result.truncated), len(result.vectors), self.spec.max_length, result.truncated[:10],
            )  # fmt: skip
        return result.vectors

    def embed(
        self,
        inputs: Iterable[str | bytes | Item],
        role: Role = "document",
        instruction: str | None = None,
        task: str | None = None,
        batch_tokens: int | None = None,
        padding_side: PaddingSide | None = None,
        cache: EmbeddingCache | None = None,
        progress: bool = False,
    ) -> EncodeResult:
        """Embed with a full report. `task` picks a preset instruction (e.g. `coir:cosqa`)."""
        role = check_role(role)
        if task is not None:
            if instruction is not None:
                raise OmnivecError("both an instruction and a task preset", "one of them", "pass only one")
            instruction = self.spec.instruction_for(task)
        instruction = self.spec.resolve_instruction(role, instruction)
        items = as_items(inputs)
        check_modalities(items, self.spec)
        start = time.perf_counter()
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        result = EncodeResult(out, costs=[0] * len(items))
        todo = list(range(len(items)))
        keys: list[str] = []
        if cache is not None:
            keys = [self.cache_key(it, role, instruction) for it in items]
            found = cache.get_many(self.fingerprint, keys)
            for i, k in enumerate(keys):
                if k in found:
                    out[i] = found[k]
            todo = [i for i, k in enumerate(keys) if k not in found]
            result.cached = len(items) - len(todo)
        budget = batch_tokens or self.batch_tokens
        side = padding_side or self.spec.padding_side
        with _Progress(progress and len(todo) > 64, len(todo)) as advance:
            for lo in range(0, len(todo), self.window):
                idx = todo[lo : lo + self.window]
                prepared = self.preprocess([items[i] for i in idx], role, instruction)
                for j, p in enumerate(prepared):
                    result.tokens += p.cost
                    result.costs[idx[j]] = p.cost
                    if p.truncated:
                        result.truncated.append(idx[j])
                for rows, vecs in self._run_batches(prepared, budget, side):
                    out[[idx[r] for r in rows]] = vecs
                    advance(len(rows))
                if cache is not None:
                    cache.put_many(self.fingerprint, [(keys[i], out[i]) for i in idx])
        result.truncated.sort()
        result.seconds = time.perf_counter() - start
        return result

    def token_counts(self, texts: Sequence[str], role: Role = "document") -> list[int]:
        """Untruncated length of each text as the model would see it (for chunkers that must fit)."""
        instruction = self.spec.resolve_instruction(role, None)
        return [p.original_cost or p.cost for p in self.preprocess(as_items(texts), role, instruction)]

    def cache_key(self, item: Item, role: Role, instruction: str | None) -> str:
        return f"{role}|{instruction or ''}|{item.content_hash()}"

    # --- the one batching loop --------------------------------------------------------------
    def _run_batches(
        self, prepared: Sequence[Prepared], budget: int, side: PaddingSide
    ) -> Iterator[tuple[list[int], np.ndarray]]:
        """Longest first (an OOM shows up on the first batch), padded cost within `budget`."""
        order = sorted(range(len(prepared)), key=lambda i: -prepared[i].cost)
        pos = 0
        while pos < len(order):
            rows = self._take_batch(order, pos, prepared, budget)
            try:
                vecs = self._forward_rows(rows, prepared, side)
            except Exception as exc:
                if not _is_oom(exc):
                    raise
                budget = self._shrink(budget, rows, max(prepared[rows[0]].cost, 1), exc)
                continue
            pos += len(rows)
            yield rows, vecs

    def _take_batch(self, order: list[int], pos: int, prepared: Sequence[Prepared], budget: int) -> list[int]:
        longest = max(prepared[order[pos]].cost, 1)  # sorted: the first row is the longest
        size = max(1, min(budget // longest, self.max_batch_size))
        return order[pos : pos + size]

    def _forward_rows(self, rows: list[int], prepared: Sequence[Prepared], side: PaddingSide) -> np.ndarray:
        batch = self.collate([prepared[r] for r in rows], side)
        vecs = to_numpy(self.forward(batch))
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-12)

    def _shrink(self, budget: int, rows: list[int], longest: int, exc: Exception) -> int:
        """Halve the batch; the floor is a batch of one item, after which the error is final."""
        _empty_device_cache()
        if len(rows) == 1:
            raise OmnivecError(
                received=f"out of memory on a batch of {len(rows)} item(s) with a budget of {budget} tokens",
                expected="a batch that fits in memory",
                fix="lower --max-length, use a smaller model, or free device memory",
            ) from exc
        smaller = min(budget // 2, longest * (len(rows) // 2))
        log.warning("out of memory with %d tokens per batch; retrying with %d", budget, smaller)
        return smaller


def to_numpy(vecs: Any) -> np.ndarray:
    if hasattr(vecs, "detach"):
        vecs = vecs.detach().float().cpu().numpy()
    return np.asarray(vecs, dtype=np.float32)


def _is_oom(exc: Exception) -> bool:
    if type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, (RuntimeError, MemoryError)) and "out of memory" in str(exc).lower()


def _empty_device_cache() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class _Progress:
    """A rich progress bar when asked for, a no-op otherwise."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self._bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda n: None
        from rich.progress import Progress

        self._bar = Progress(transient=True)
        self._bar.start()
        task = self._bar.add_task("embedding", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
