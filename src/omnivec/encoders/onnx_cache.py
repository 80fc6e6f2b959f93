"""The cache of ONNX exports: `cache_dir()/onnx/<name>/`, one folder per `ExportKey` name.

The name holds the weights fingerprint, model type, position scheme, backend, opset and the torch /
onnxruntime versions (`onnx_export.ExportKey`). A build happens in a temporary folder under a lock
and is renamed into place; its manifest (`<name>.json`, written last, atomically) records each
file's size, modification time and hash, and later the probe against torch (`onnx_runtime.attach`).
An export without a manifest, or whose files do not match it (half-written, truncated, corrupted:
a file written since the build is hashed again), is never used: it is rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def export_root() -> Path:
    from omnivec.config import cache_dir

    return cache_dir() / "onnx"


def file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached_export(root: Path, name: str) -> Path | None:
    """The model file of a complete, undamaged export, else None."""
    try:
        meta = json.loads((root / f"{name}.json").read_text())
        files, model = meta["files"], meta["model"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    folder = root / name
    for fname, want in files.items():
        if not _intact(folder / fname, want):
            log.warning("cached ONNX export %s is incomplete or damaged (%s): rebuilding it", folder, fname)
            return None
    return folder / model if model in files else None


def _record(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "blake2b": file_digest(path)}


def _intact(path: Path, want: dict[str, Any]) -> bool:
    """Size and hash as recorded. A file untouched since the build (same size and modification
    time to the nanosecond) skips the hash, which costs about 0.1 s per 50 MB; any write since
    changes the time, so a damaged file is hashed, and refused."""
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_size != want["size"]:
        return False
    return st.st_mtime_ns == want.get("mtime_ns") or file_digest(path) == want["blake2b"]


def store_export(root: Path, name: str, build: Any, rebuild: bool = False) -> Path:
    """Run `build(folder) -> model path` in a temporary folder; move it into place, manifest last.

    A lock serialises builders; the one that waited finds the export done and reuses it.
    `rebuild` replaces an intact export too (one whose manifest lacks the probe).
    """
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{name}.lock"):
        found = cached_export(root, name)
        if found is not None and not (rebuild and cached_probe(root, name) is None):
            return found
        for stale in root.glob(f".{name}.*"):  # left by a builder that was killed
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
        try:
            model = build(tmp)
            # renaming the folder keeps its files' modification times
            files = {f.name: _record(f) for f in tmp.iterdir()}
            (root / f"{name}.json").unlink(missing_ok=True)  # never a manifest over other files
            shutil.rmtree(root / name, ignore_errors=True)
            os.replace(tmp, root / name)
            manifest = {"model": model.name, "files": files, "created": time.time()}
            _write_atomic(root / f"{name}.json", json.dumps(manifest, indent=1))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root / name / model.name


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: builders may race, and each still renames a complete export
        yield
        return
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cached_probe(root: Path, name: str) -> dict[str, float] | None:
    """The probe result a build recorded in its manifest, or None (an export from before probes
    were recorded, or a build interrupted between its manifest and its probe)."""
    try:
        probe = json.loads((root / f"{name}.json").read_text())["probe"]
        return {"max_abs_diff": float(probe["max_abs_diff"]), "min_cosine": float(probe["min_cosine"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def add_probe(root: Path, name: str, probe: dict[str, float]) -> None:
    with _locked(root / f"{name}.lock"):
        manifest = json.loads((root / f"{name}.json").read_text())
        _write_atomic(root / f"{name}.json", json.dumps({**manifest, "probe": probe}, indent=1))
