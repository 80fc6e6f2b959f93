"""Encoders: one file per model family, each registering its recipes as data."""

from omnivec.encoders.base import Encoder, EncodeResult, Prepared
from omnivec.encoders.registry import get_spec, list_specs, load_encoder, register_family, register_spec
from omnivec.encoders.spec import EncoderSpec

__all__ = [
    "EncodeResult", "Encoder", "EncoderSpec", "Prepared", "get_spec", "list_specs", "load_encoder",
    "register_family", "register_spec",
]  # fmt: skip
