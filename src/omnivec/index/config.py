"""Which encoder embeds which kind of chunk, saved with each store so queries use the same models."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from omnivec.errors import InputError, RecipeMismatchError, StoreError
from omnivec.kinds import collection_of

CONFIG_FILE = "index.json"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexConfig:
    """Models per collection; `None` means that kind of content is recorded but not embedded."""

    root: str
    text_model: str
    image_model: str | None = None
    screenshot_model: str | None = None
    max_file_bytes: int = 2_000_000
    render_docs: bool = False  # also screenshot HTML/Markdown pages (for screenshot models)
    # safe by default (see `omnivec.ingest.walk`): each of these lets in what is normally skipped
    follow_links: bool = False  # symlinks to files and folders outside the root
    include_secrets: bool = False  # key and credential files
    include_generated: bool = False  # lock files, source maps, minified code

    def __post_init__(self) -> None:
        if not self.max_file_bytes > 0:
            raise InputError(
                received=f"a file size limit of {self.max_file_bytes} bytes",
                expected="a limit above 0",
                fix="pass --max-file-mb 2, for example",
            )

    def models(self) -> dict[str, str]:
        named = {"text": self.text_model, "image": self.image_model, "screenshot": self.screenshot_model}
        return {coll: model for coll, model in named.items() if model}

    def save(self, store_dir: Path) -> None:
        """Atomic write: a crash leaves the old file or the new one, never half of one."""
        store_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=store_dir, prefix=".index.", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(self), fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, store_dir / CONFIG_FILE)

    @classmethod
    def load(cls, store_dir: Path) -> IndexConfig | None:
        """The saved settings; None when there are none; a `StoreError` when the file is damaged
        (a half-written copy from another tool, an edit gone wrong), naming what is wrong."""
        path = store_dir / CONFIG_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise damaged_config(store_dir, f"not valid JSON ({exc})") from exc
        problem = _config_problem(data)
        if problem is not None:
            raise damaged_config(store_dir, problem)
        return cls(**{k: v for k, v in data.items() if k in _TYPES})

    def check_same_root(self, other: IndexConfig, where: str, *, move_root: bool) -> None:
        """A store indexes one folder: updating it from another drops every file of the first,
        so that is refused unless `move_root` (asked for, or the folder moved with its store)."""
        if Path(self.root) == Path(other.root):
            return
        if move_root:
            log.warning("index at %s was built from %s; now indexing %s", where, self.root, other.root)
            return
        raise InputError(
            received=f"--store {where}, which holds the index of {self.root}, for indexing {other.root}",
            expected="the store of the folder being indexed (indexing another folder into it would "
            f"drop every file of {self.root} from it)",
            fix=f"pass the store of {other.root} (by default {Path(other.root) / '.omnivec'}, used when "
            f"--store is left out), or run `omnivec index {other.root} --store {where} --move-root` to "
            "re-point this index at it on purpose",
        )

    def check_same_models(self, other: IndexConfig) -> None:
        """A store keeps its models: switching one would mix embedding spaces."""
        diffs = [
            f"{coll}: {self.models().get(coll)} -> {other.models().get(coll)}"
            for coll in sorted(set(self.models()) | set(other.models()))
            if self.models().get(coll) != other.models().get(coll)
        ]
        if diffs:
            raise RecipeMismatchError(
                received=f"models {', '.join(diffs)} for an existing index",
                expected="the models the index was built with",
                fix="index into a new --store, or delete the old one to rebuild with the new models",
            )

    def collection_for(self, kind: str) -> str | None:
        """The collection a chunk kind goes to, or None when this index embeds no such kind."""
        coll = collection_of(kind)
        return coll if coll in self.models() else None


# field -> the JSON types it may hold (None: JSON null); the values `save` writes
_TYPES: dict[str, tuple[type | None, ...]] = {
    "root": (str,), "text_model": (str,), "image_model": (str, None), "screenshot_model": (str, None),
    "max_file_bytes": (int,), "render_docs": (bool,), "follow_links": (bool,),
    "include_secrets": (bool,), "include_generated": (bool,),
}  # fmt: skip


def _config_problem(data: Any) -> str | None:
    """What keeps `data` (parsed index.json) from being an `IndexConfig`, or None."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__} where an object belongs"
    required = [f.name for f in fields(IndexConfig) if f.default is MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        return f"missing {', '.join(repr(m) for m in missing)}"
    for name, allowed in _TYPES.items():
        value = data.get(name)
        if name not in data or any(_is(value, t) for t in allowed):
            continue
        return f"{name} = {json.dumps(value)[:60]}, not a {' or '.join(_label(t) for t in allowed)}"
    if data.get("max_file_bytes", 1) <= 0:
        return f"max_file_bytes = {data['max_file_bytes']}, not above 0"
    return None


def _is(value: Any, t: type | None) -> bool:
    if t is None:
        return value is None
    return isinstance(value, t) and (t is bool or not isinstance(value, bool))  # True is no int here


def _label(t: type | None) -> str:
    labels: dict[type | None, str] = {str: "string", int: "whole number", bool: "true/false", None: "null"}
    return labels.get(t, str(t))


def damaged_config(store_dir: Path, problem: str) -> StoreError:
    """The error for an unreadable index.json, with the command that rebuilds it: `repair` finds
    the folder a default `ROOT/.omnivec` store indexes; any other store needs it named."""
    if store_dir.name == ".omnivec":
        fix = f"run `omnivec repair --store {store_dir}`"
    else:
        fix = f"run `omnivec index FOLDER --store {store_dir} --rebuild` with the folder it indexes"
    return StoreError(
        received=f"{store_dir / CONFIG_FILE}, which is damaged: {problem}",
        expected="the index settings omnivec writes there (a JSON object with root and models)",
        fix=fix + ": it rebuilds the file from the index's database, keeping everything indexed "
        "(the damaged file is kept beside it)",
    )
