"""The file shape the store's derived indexes share: a magic, a little-endian length, a JSON
header (with `generation` and `payload_bytes`), then the payload. Written atomically (temp file,
fsync, rename, fsync of the folder), so a reader sees the old file or the new one, never a torn
one; read back only when every size agrees."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def header_bytes(magic: bytes, head: dict[str, Any], align: int = 1) -> bytes:
    """Magic, length and JSON header, padded with spaces so the payload starts at a multiple of
    `align` (JSON ignores the trailing spaces)."""
    raw = json.dumps(head).encode()
    raw += b" " * (-(len(magic) + 4 + len(raw)) % align)
    return magic + struct.pack("<I", len(raw)) + raw


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write` on a temporary file beside `path`, make it durable, then rename it over."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def split_header(data: bytes | bytearray, magic: bytes) -> tuple[dict[str, Any], int]:
    """A whole file's header and the offset where its payload starts; ValueError (or
    struct.error) when the file is not ours or its payload is not the length the header says."""
    if not data.startswith(magic):
        raise ValueError("bad magic")
    start = len(magic) + 4
    (hlen,) = struct.unpack("<I", data[len(magic) : start])
    head = json.loads(bytes(data[start : start + hlen]))
    base = start + hlen
    if len(data) - base != head["payload_bytes"]:
        raise ValueError(f"payload is {len(data) - base} bytes, header says {head['payload_bytes']}")
    return head, base


def read_stamp(path: Path, magic: bytes) -> dict[str, Any] | None:
    """Only the header (cheap: the payload is not read), or None when the file is missing, not
    ours, or not as long as its header says (truncated, or grown by garbage)."""
    try:
        with open(path, "rb") as f:
            start = f.read(len(magic) + 4)
            if len(start) < len(magic) + 4 or not start.startswith(magic):
                return None
            (hlen,) = struct.unpack("<I", start[len(magic) :])
            head = json.loads(f.read(hlen))
            size = os.fstat(f.fileno()).st_size
    except (OSError, ValueError):
        return None
    if not isinstance(head, dict) or "generation" not in head:
        return None
    return head if size == len(start) + hlen + head.get("payload_bytes", -1) else None


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder: so a rename in it survives a power loss)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
