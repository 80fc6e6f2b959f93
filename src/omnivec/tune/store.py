"""Tuned models inside a store, and switching a store's text model (tuned <-> base) cleanly.

Tuned models live in `STORE/models/tuned-<fingerprint>/` (a sentence-transformers folder plus
`omnivec-tune.json`: base model, pairs, settings, loss, times). A store never mixes models, so
switching the text model is a re-embed of the text collection, done in this order:

1. mark every file for a re-read, then drop the text collection (one transaction; the sources
   it held get an empty content hash, so the re-read re-chunks and re-embeds them);
2. write `index.json` with the new text model (an atomic rename);
3. run the incremental update, which re-chunks and embeds those sources with the new model.

A crash after 1 leaves a store that the next `omnivec index` finishes with whichever model
`index.json` names; image and screenshot collections are untouched. The embedding cache is keyed
by model fingerprint, so switching back to a model used before costs no model run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from omnivec.errors import InputError, StoreError

log = logging.getLogger(__name__)

MODELS_DIR = "models"
META_FILE = "omnivec-tune.json"
PREFIX = "tuned-"


def models_dir(store_dir: Path) -> Path:
    return store_dir / MODELS_DIR


def read_meta(model: str | Path) -> dict[str, Any] | None:
    """The tuning record of a tuned model folder, or None for any other model."""
    path = Path(model) / META_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def base_of(model: str) -> str:
    """The model a tuned model was trained from (itself for any other model)."""
    meta = read_meta(model)
    return str(meta["base_model"]) if meta else model


def tuned_models(store_dir: Path) -> list[Path]:
    """Tuned model folders of a store, oldest first."""
    folder = models_dir(store_dir)
    found = [p for p in folder.glob(f"{PREFIX}*") if (p / META_FILE).is_file()] if folder.is_dir() else []
    return sorted(found, key=lambda p: (read_meta(p) or {}).get("created", 0))


def scratch_dir(store_dir: Path) -> Path:
    """A fresh folder next to the tuned models, so saving one ends in a same-disk rename."""
    folder = models_dir(store_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".training-{os.getpid()}-{int(time.time())}"
    shutil.rmtree(path, ignore_errors=True)
    return path


def keep_model(trained: Path, store_dir: Path, meta: dict[str, Any]) -> tuple[Path, str]:
    """Move a trained folder to `models/tuned-<fingerprint>` with its record; (folder, fingerprint)."""
    from omnivec.encoders.registry import load_encoder

    fingerprint = load_encoder(str(trained)).fingerprint
    dest = models_dir(store_dir) / f"{PREFIX}{fingerprint.split(':')[0][:16]}"
    record = {**meta, "fingerprint": fingerprint, "created": time.time()}
    (trained / META_FILE).write_text(json.dumps(record, indent=2))
    if dest.exists():  # the same weights again (same pairs, seed and settings)
        shutil.rmtree(dest)
    os.replace(trained, dest)
    return dest, fingerprint


def resolve_model(store_dir: Path, current: str, use: str) -> str:
    """What `--use` names: `base`, `latest` (tuned), a folder name in `models/`, or any model."""
    if use == "base":
        return base_of(current)
    if use == "latest":
        tuned = tuned_models(store_dir)
        if not tuned:
            raise InputError(
                received=f"--use latest for {store_dir}, which holds no tuned model",
                expected="a store tuned with `omnivec tune`",
                fix="run `omnivec tune PATH` first",
            )
        return str(tuned[-1])
    local = models_dir(store_dir) / use
    return str(local.resolve()) if local.is_dir() else use


def _force_reread(store: Any) -> None:
    """Make the next update read every indexed file again instead of trusting (size, mtime).

    `drop_collection` blanks the content hash of the sources it empties, but the updater skips
    a file whose size and mtime are unchanged before it looks at the hash; an impossible mtime
    makes it read and hash the file: unchanged content is kept as is, emptied sources re-embed.
    Done before the drop, so a crash in between costs one re-read and loses nothing.
    """
    for state in store.sources().values():
        if state.status == "indexed":
            store.touch_source(replace(state, mtime_ns=-1))


def switch_text_model(store_dir: Path, model: str, progress: Any = None) -> dict[str, Any]:
    """Re-embed the store's text collection with `model` (see the module docstring).

    Returns the update report as a dict (with `switched`: False when `model` was already in use).
    """
    from omnivec.api import Index

    idx = Index.open(store_dir, writer=True)
    try:
        old = idx.config
        if old.text_model == model:
            return {"switched": False, "model": model}
        drop = getattr(idx.store, "drop_collection", None)
        if drop is None:
            raise StoreError(
                received=f"a store backend ({type(idx.store).__name__}) that cannot drop a collection",
                expected="a local store (a folder)",
                fix="index into a new --store with --model instead",
            )
        _force_reread(idx.store)
        if any(c.name == "text" for c in idx.store.collections()):
            drop("text")
        new = replace(old, text_model=model)
        new.save(store_dir)
        idx = Index(store_dir, new, idx.store, writer=True)
        report = idx.update(progress=progress)
        return {"switched": True, "model": model, "previous": old.text_model, **report.as_dict()}
    finally:
        idx.close()
