"""Which encoder embeds which kind of chunk, saved with each store so queries use the same models."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from omnivec.errors import InputError, RecipeMismatchError
from omnivec.kinds import collection_of

CONFIG_FILE = "index.json"


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
        path = store_dir / CONFIG_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

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
