"""The cold path of the ONNX backends: a BERT encoder that loads without torch or transformers.

A one-query `omnivec search` spent nearly all its 6.6 s importing transformers (and with it torch)
to build the tokenizer and the config, although an ONNX backend with a cached export never runs
either. Once the export is cached, a load here needs only:

- the tokenizer, as the Rust `tokenizers` library object that transformers itself builds and
  drives. transformers 5 rebuilds the pipeline (normaliser, pre-tokeniser, special tokens) from
  the tokenizer class and its config rather than taking `tokenizer.json` as it is, so the
  faithful copy is transformers' own: the slow path saves `backend_tokenizer` once per weights
  fingerprint and transformers / tokenizers version (`save_tokenizer`), and the cold path reads
  it back with `Tokenizer.from_str`. `ColdTokenizer` then sets truncation exactly as
  transformers' `__call__` does (longest-first, stride 0, the tokenizer's truncation side, no
  padding), so ids are equal;
- the config: `model_type`, `hidden_size`, `max_position_embeddings` read from `config.json`;
- whether positions are passed explicitly, from `COLD_POSITIONS` (transformers derives it from
  the model class's `forward`; a test checks the table against it).

Anything missing (no saved tokenizer, no cached export or probe, a key absent from the config, a
model type outside the table) returns None, and the caller loads the usual way.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from omnivec.encoders.onnx_cache import cached_export, cached_probe, export_root
from omnivec.encoders.onnx_export import ExportKey
from omnivec.encoders.spec import EncoderSpec

log = logging.getLogger(__name__)

#: model type -> whether omnivec passes position ids (`TextModelEncoder.explicit_positions`)
COLD_POSITIONS = {"bert": True}
_CONFIG_KEYS = ("model_type", "hidden_size", "max_position_embeddings")


@dataclass(frozen=True)
class ColdConfig:
    """The config values the BERT family reads at load, from `config.json` as it is."""

    model_type: str
    hidden_size: int
    max_position_embeddings: int


@dataclass(frozen=True)
class ColdParts:
    tokenizer: ColdTokenizer
    config: ColdConfig
    explicit_positions: bool


class ColdTokenizer:
    """What omnivec's BERT path calls on a transformers tokenizer, over the `tokenizers` object
    transformers built (`_hf.tokenize`, `token_counts`, the server's `decode_tokens`)."""

    def __init__(self, backend: Any, pad_token_id: int | None, truncation_side: str) -> None:
        self.backend_tokenizer = backend
        self.pad_token_id = pad_token_id
        self.truncation_side = truncation_side
        # one configured copy per truncation setting: switching one shared object's setting per
        # call (as transformers does) lets concurrent queries tokenise with each other's setting
        self._configured: dict[int | None, Any] = {}
        self._lock = threading.Lock()

    def __call__(
        self, text: str | list[str], *, truncation: bool = False, max_length: int | None = None,
        add_special_tokens: bool = True, verbose: bool = True,
    ) -> dict[str, Any]:  # fmt: skip
        """transformers' `__call__` for these arguments: truncation set (or cleared), no padding."""
        tok = self._with_truncation(max_length if truncation else None)
        texts = [text] if isinstance(text, str) else list(text)
        ids = [e.ids for e in tok.encode_batch(texts, add_special_tokens=add_special_tokens)]
        return {"input_ids": ids[0] if isinstance(text, str) else ids}

    def _with_truncation(self, max_length: int | None) -> Any:
        with self._lock:
            if max_length not in self._configured:
                # the first setting takes the loaded object itself (a copy costs 25 ms on MiniLM);
                # nothing else reads its truncation (`token_counts` copies and clears it)
                src = self.backend_tokenizer
                tok = src.from_str(src.to_str()) if self._configured else src
                tok.no_padding()
                if max_length is None:
                    tok.no_truncation()
                else:  # as transformers sets it for truncation=True, max_length=N
                    tok.enable_truncation(
                        max_length, stride=0, strategy="longest_first", direction=self.truncation_side
                    )
                self._configured[max_length] = tok
            return self._configured[max_length]

    def __len__(self) -> int:
        return int(self.backend_tokenizer.get_vocab_size(with_added_tokens=True))

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return str(self.backend_tokenizer.decode(ids, skip_special_tokens=skip_special_tokens))


def tokenizer_file(weights_id: str) -> Path:
    """Where the slow path saves the tokenizer transformers built for these weights."""
    versions = "-".join(_version(p) for p in ("transformers", "tokenizers"))
    return export_root() / "tokenizers" / f"{weights_id}-{versions}.json"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def save_tokenizer(tokenizer: Any, weights_id: str) -> None:
    """Keep transformers' tokenizer (pipeline, pad id, truncation side) for the cold path; once."""
    dst = tokenizer_file(weights_id)
    if dst.is_file() or not hasattr(tokenizer, "backend_tokenizer"):
        return
    blob = {
        "tokenizer": tokenizer.backend_tokenizer.to_str(),
        "pad_token_id": tokenizer.pad_token_id,
        "truncation_side": tokenizer.truncation_side,
    }
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(blob))
        os.replace(tmp, dst)  # atomic: a reader sees the whole file or none
    except OSError as exc:  # a read-only cache only costs the cold path
        log.info("could not save the tokenizer for the cold path (%s)", exc)


def cold_parts(path: Path, weights_id: str, backend: str) -> ColdParts | None:
    """Tokenizer, config and position scheme without transformers, or None (load the usual way)."""
    found = _cached(path, weights_id, backend)
    if found is None:
        return None
    tokenizer = _tokenizer(weights_id)
    if tokenizer is None:
        return None
    return ColdParts(tokenizer, found[0], COLD_POSITIONS[found[0].model_type])


def compatible_cold_export(spec: EncoderSpec, weights: str | Path, atol: float) -> bool:
    """Whether `spec`'s weights have a cached fp32 export whose recorded probe is within `atol` of
    torch, and a saved tokenizer: a query can then load cold on it (`backend_choice`)."""
    from omnivec.encoders._hf import resolve_weights, weights_fingerprint

    path = resolve_weights(spec, weights)
    weights_id = weights_fingerprint(path)
    found = _cached(path, weights_id, "onnx")
    return found is not None and found[1]["max_abs_diff"] <= atol and tokenizer_file(weights_id).is_file()


def _cached(path: Path, weights_id: str, backend: str) -> tuple[ColdConfig, dict[str, float]] | None:
    """The config and the recorded probe of a complete cached export for these weights, or None."""
    config = _config(path)
    if config is None or config.model_type not in COLD_POSITIONS:
        return None
    explicit = COLD_POSITIONS[config.model_type]
    name = ExportKey(weights_id, config.model_type, explicit, backend).name()  # type: ignore[arg-type]
    root = export_root()
    probe = cached_probe(root, name)
    if probe is None or cached_export(root, name) is None:
        return None
    return config, probe


def _config(path: Path) -> ColdConfig | None:
    try:
        raw = json.loads((path / "config.json").read_text())
        return ColdConfig(*(raw[k] for k in _CONFIG_KEYS))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _tokenizer(weights_id: str) -> ColdTokenizer | None:
    src = tokenizer_file(weights_id)
    if not src.is_file():
        return None
    try:
        from tokenizers import Tokenizer

        blob = json.loads(src.read_text())
        backend = Tokenizer.from_str(blob["tokenizer"])
        return ColdTokenizer(backend, blob["pad_token_id"], blob["truncation_side"])
    except Exception as exc:  # damaged (tokenizers raises plain Exception): the slow path rewrites it
        log.warning("ignoring the saved tokenizer %s (%s)", src, exc)
        src.unlink(missing_ok=True)
        return None
