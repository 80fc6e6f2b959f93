"""`IndexReport`: what one indexing run (`omnivec.index.updater.Indexer.update`) did."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omnivec.stores.base import SourceState

SECRET = "secret:"  # how every secret's skip reason starts (`omnivec.ingest.policy`)


@dataclass
class IndexReport:
    """What one `update` did; `skipped` holds (path, reason) for every file not indexed."""

    seen: int = 0
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    truncated: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # paths (re)indexed or removed, in order
    embedded: int = 0  # chunks embedded by this run (written with their vectors, or filled in)
    pending: int | None = None  # chunks still without a vector at the end; None: one-phase store
    searchable_after: float | None = None  # seconds until every file was keyword-searchable
    #: files found to be secrets whose earlier version (indexed by an omnivec that did not know
    #: them as such) the run removes: a key must not stay searchable
    secrets_to_drop: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {"parse": 0.0, "embed": 0.0, "store": 0.0})

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen, "indexed": self.indexed, "unchanged": self.unchanged,
            "removed": self.removed, "skipped": len(self.skipped), "chunks": self.chunks,
            "truncated": self.truncated, "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "skips": [{"path": p, "reason": r} for p, r in self.skipped], "changed": self.changed,
            "embedded": self.embedded, "pending": self.pending,
            "searchable_after": None if self.searchable_after is None else round(self.searchable_after, 3),
        }  # fmt: skip

    def skip(self, path: str, reason: str, previous: Mapping[str, SourceState]) -> None:
        """Report `path` as not indexed; says what becomes of its previously indexed version: kept,
        except for a secret (see `secrets_to_drop`)."""
        kept = previous.get(path)
        if kept is not None and kept.status == "indexed":
            if reason.startswith(SECRET):
                reason += " (its previously indexed version is removed)"
                self.secrets_to_drop.append(path)
            else:
                reason += " (kept the previously indexed version)"
        self.skipped.append((path, reason))
