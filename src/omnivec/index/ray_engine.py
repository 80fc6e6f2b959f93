"""Embedding on a Ray cluster: Ray Data `map_batches` over a pool of encoder actors.

>>> with RayEngine(address=None, actors=2) as engine:           # doctest: +SKIP
...     Index.create("repo").update(engine=engine)

The indexer is unchanged: it walks, chunks and writes on the driver, and hands each batch of
pending chunks (`pending_chunks`, 4096 here against 256 in-process, so a Ray job's start-up is
paid rarely) to `RayEngine.embed`. That looks the items up in the embedding cache on the driver,
sends the misses through `Dataset.map_batches` to `EncoderActor`s (one per GPU, or per CPU slot
without GPUs; each loads the collection's model once), and streams the vectors back with
`iter_batches` as actors finish, so the store is written as soon as the batch is embedded. The
report is the same as a local run's: vectors, truncated positions, tokens.

Items travel by value: text as text, images as their bytes (a worker on another node cannot read
the driver's files). The actors' model must be the driver's: their fingerprint is checked.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from omnivec.errors import MissingExtraError, OmnivecError

if TYPE_CHECKING:
    from omnivec.encoders.base import Encoder, EncodeResult
    from omnivec.encoders.cache import EmbeddingCache
    from omnivec.types import Item, Modality

log = logging.getLogger(__name__)

RAY_PENDING_CHUNKS = 4096


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingExtraError(received="--engine ray without Ray Data installed",
                                expected="the ray extra", fix="pip install 'omnivec[ray]'") from exc  # fmt: skip
    return ray


class EncoderActor:
    """A Ray Data callable class: one model per actor, loaded once, fed batches of rows."""

    def __init__(self, model: str, fingerprint: str, threads: int = 1) -> None:
        import torch

        from omnivec.encoders.registry import load_encoder

        torch.set_num_threads(max(1, threads))  # one CPU slot per actor: threads would fight
        self.enc = load_encoder(model)
        if self.enc.fingerprint != fingerprint:
            raise OmnivecError(received=f"model {model} with fingerprint {self.enc.fingerprint} on a Ray worker",
                               expected=f"the driver's fingerprint {fingerprint}",
                               fix="install the same model files and omnivec version on every node")  # fmt: skip

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [_item(t, img, m) for t, img, m in zip(batch["text"], batch["image"], batch["modality"])]
        res = self.enc.embed(items, role="document")
        flags = np.zeros(len(items), dtype=bool)
        flags[res.truncated] = True
        tokens = np.zeros(len(items), dtype=np.int64)
        tokens[0] = res.tokens  # the batch's total, carried by its first row
        return {"i": batch["i"], "vector": res.vectors, "truncated": flags, "tokens": tokens}


def _item(text: Any, image: Any, modality: Any) -> Item:
    from omnivec.types import Item

    kind = cast("Modality", str(modality))
    if len(image) == 0:
        return Item(text=str(text), modality=kind)
    import io

    from PIL import Image

    return Item(image=Image.open(io.BytesIO(bytes(image))), modality=kind)


class RayEngine:
    """Embeds on Ray (`address` None starts a local cluster; "auto" joins the running one)."""

    def __init__(self, address: str | None = None, actors: int | None = None, batch_size: int = 64,
                 gpus_per_actor: float | None = None, pending_chunks: int = RAY_PENDING_CHUNKS) -> None:  # fmt: skip
        self.ray = _import_ray()
        self.pending_chunks = pending_chunks
        self.batch_size = batch_size
        self._started = False
        if not self.ray.is_initialized():
            self.ray.init(address=address, include_dashboard=False, log_to_driver=False,
                          configure_logging=False, **({"num_cpus": actors} if address is None and actors else {}))  # fmt: skip
            self._started = True
        ctx = self.ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the indexer's own progress is the one shown
        ctx.execution_options.preserve_order = False  # rows carry their index
        resources = self.ray.cluster_resources()
        self.gpus_per_actor = (
            gpus_per_actor if gpus_per_actor is not None else (1.0 if resources.get("GPU") else 0.0)
        )
        slots = (
            resources.get("GPU", 0) / self.gpus_per_actor if self.gpus_per_actor else resources.get("CPU", 1)
        )
        self.actors = actors or max(1, int(slots))

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
            self._started = False

    def embed(self, enc: Encoder, items: list[Item], cache: EmbeddingCache | None) -> EncodeResult:
        """`enc.embed(items, role="document", cache=cache)`, computed by the actor pool."""
        from omnivec.encoders.base import EncodeResult

        start = time.perf_counter()
        out = np.zeros((len(items), enc.dim), dtype=np.float32)
        result = EncodeResult(out)
        todo = list(range(len(items)))
        keys: list[str] = []
        if cache is not None:
            instruction = enc.spec.resolve_instruction("document", None)
            keys = [enc.cache_key(it, "document", instruction) for it in items]
            found = cache.get_many(enc.fingerprint, keys)
            for i, k in enumerate(keys):
                if k in found:
                    out[i] = found[k]
            todo = [i for i, k in enumerate(keys) if k not in found]
            result.cached = len(items) - len(todo)
        if todo:
            self._run(enc, items, todo, result)
            if cache is not None:
                cache.put_many(enc.fingerprint, [(keys[i], out[i]) for i in todo])
        result.truncated.sort()
        result.seconds = time.perf_counter() - start
        return result

    def _run(self, enc: Encoder, items: list[Item], todo: list[int], result: EncodeResult) -> None:
        # every row has text and image bytes (empty when absent): a column of Nones would come
        # back from Arrow as NaN floats
        rows = [{"i": i, "text": items[i].text or "", "image": _image_bytes(items[i].image),
                 "modality": items[i].modality} for i in todo]  # fmt: skip
        ds = self.ray.data.from_items(
            rows, override_num_blocks=max(1, min(len(rows) // self.batch_size, 4 * self.actors))
        )
        threads = (
            1
            if self.gpus_per_actor
            else max(1, int(self.ray.cluster_resources().get("CPU", 1)) // self.actors)
        )
        embedded = ds.map_batches(
            EncoderActor,
            fn_constructor_kwargs={"model": enc.spec.name, "fingerprint": enc.fingerprint, "threads": threads},
            batch_size=self.batch_size, compute=self.ray.data.ActorPoolStrategy(size=self.actors),
            num_gpus=self.gpus_per_actor,
            num_cpus=0 if self.gpus_per_actor else threads, batch_format="numpy",
        )  # fmt: skip
        for batch in embedded.iter_batches(batch_format="numpy", batch_size=None):
            idx = batch["i"]
            result.vectors[idx] = batch["vector"]
            result.truncated.extend(int(i) for i, t in zip(idx, batch["truncated"]) if t)
            result.tokens += int(batch["tokens"].sum())


def _image_bytes(image: Any) -> bytes:
    if image is None:
        return b""
    if isinstance(image, (str, Path)):
        return Path(image).read_bytes()
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
