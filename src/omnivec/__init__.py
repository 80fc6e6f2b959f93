"""omnivec: retrieval over code, images and documents-as-screenshots."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omnivec.errors import OmnivecError
from omnivec.types import Hit, Item, SearchResults

if TYPE_CHECKING:
    from omnivec.encoders import Encoder

__version__ = "0.1.0"
__all__ = ["Hit", "Item", "OmnivecError", "SearchResults", "load_encoder"]


def load_encoder(name_or_path: str | None = None, **kw: Any) -> Encoder:
    """Load an encoder by registered name, alias or checkpoint folder (default: the offline MiniLM)."""
    from omnivec.encoders.registry import load_encoder as _load

    return _load(name_or_path, **kw)
