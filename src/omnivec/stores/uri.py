"""Opening a store from what a user typed: a folder path, `file://PATH`, or a backend's URI scheme.

Backends register the URI schemes they serve; until one does, a scheme is refused with an error
naming the schemes that exist, before anything is created on disk (a typo like
`milvu://host:19530` must never become a folder named `milvu:`). The built-in backends beyond the
local one (`milvus://`, `milvus-lite://`) are known by their opener's import path, so neither
importing this module nor opening a local store imports their client libraries.

>>> store_folder("file:///tmp/x/.omnivec")
PosixPath('/tmp/x/.omnivec')
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from omnivec.errors import InputError

if TYPE_CHECKING:
    from omnivec.stores.base import VectorStore

StoreOpener = Callable[..., "VectorStore"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_OPENERS: dict[str, StoreOpener] = {}
# scheme -> "module:function", imported on first use (the milvus extra is optional)
_BUILTIN = {"milvus": "omnivec.stores.milvus:open_milvus", "milvus-lite": "omnivec.stores.milvus:open_milvus"}


def register_scheme(scheme: str, opener: StoreOpener) -> None:
    """Let `open_store` serve `scheme://...` with `opener(uri, writer=..., **options)`."""
    _OPENERS[scheme.lower()] = opener


def scheme_of(location: str | Path) -> str:
    """`file` for a path or `file://` URI, otherwise the URI's scheme."""
    m = _SCHEME.match(str(location)) if isinstance(location, str) else None
    return m.group(1).lower() if m else "file"


def store_folder(location: str | Path) -> Path:
    """The folder of a local store; any other scheme is refused with the schemes that exist."""
    scheme = scheme_of(location)
    if scheme == "file":
        text = str(location)
        return Path(unquote(urlparse(text).path)) if _SCHEME.match(text) else Path(location)
    if scheme in _OPENERS or scheme in _BUILTIN:
        raise InputError(
            received=f"store {location}, served by the {scheme} backend",
            expected="a local store folder for this operation",
            fix="use a folder path or file:// for this command",
        )
    raise InputError(
        received=f"store {location} (URI scheme {scheme!r})",
        expected="a folder path or one of the schemes " + ", ".join(known_schemes()),
        fix="pass --store DIR (e.g. ./.omnivec); other backends are added by their extras",
    )


def known_schemes() -> list[str]:
    return ["file://", *(f"{s}://" for s in sorted(set(_OPENERS) | set(_BUILTIN)))]


def is_local(location: str | Path) -> bool:
    """True for a folder path or `file://` URI: a store that keeps everything in one folder."""
    return scheme_of(location) == "file"


def _opener(scheme: str) -> StoreOpener | None:
    if scheme not in _OPENERS and scheme in _BUILTIN:
        import importlib

        module, _, name = _BUILTIN[scheme].partition(":")
        _OPENERS[scheme] = getattr(importlib.import_module(module), name)
    return _OPENERS.get(scheme)


def open_store(location: str | Path, *, writer: bool, **options: Any) -> VectorStore:
    """Open the store at `location` (a folder, `file://PATH`, or a registered scheme's URI)."""
    scheme = scheme_of(location)
    opener = _opener(scheme) if scheme != "file" else None
    if opener is not None:
        return opener(str(location), writer=writer, **options)
    from omnivec.stores.local import LocalStore

    return LocalStore(store_folder(location), writer=writer, **options)
