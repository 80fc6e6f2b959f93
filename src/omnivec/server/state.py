"""What one server process holds: its stores (by name), its models, its metrics."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from omnivec.errors import InputError, StoreError
from omnivec.index.discovery import STORE_DIRNAME
from omnivec.server.metrics import Metrics
from omnivec.server.models import ModelPool
from omnivec.server.settings import ServerSettings

if TYPE_CHECKING:
    from omnivec.api import Index

log = logging.getLogger(__name__)


@dataclass
class ServerState:
    settings: ServerSettings
    stores: dict[str, Index]
    pool: ModelPool
    metrics: Metrics

    @classmethod
    def load(cls, settings: ServerSettings) -> ServerState:
        """Open every store and load every model now, so a bad one fails the start, not a request."""
        from omnivec.config import default_model

        metrics = Metrics()
        stores: dict[str, Index] = {}
        try:
            for path in settings.stores:
                stores[_unique(store_name(path), stores)] = _open(path, settings)
            shared = [enc for idx in stores.values() for enc in idx.encoders().values()]
            names = settings.models or (() if shared else (default_model(),))
            pool = ModelPool.load(names, shared, settings, metrics)
        except BaseException:
            for idx in stores.values():
                idx.close()
            raise
        return cls(settings, stores, pool, metrics)

    def store(self, name: str | None) -> tuple[str, Index]:
        """The named store, or the first one; a clear 4xx when there is none or no such name."""
        if not self.stores:
            raise StoreError(
                received="a store request to a server started without --store",
                expected="a server started with --store DIR",
                fix="restart with `omnivec serve --store DIR` (a folder made by `omnivec index`)",
            )
        if name is None:
            return next(iter(self.stores.items()))
        if name not in self.stores:
            raise InputError(
                received=f"store {name!r}",
                expected=f"one of {', '.join(self.stores)}",
                fix="pick a store name from GET /healthz",
            )
        return name, self.stores[name]

    def close(self) -> None:
        self.pool.close()
        for idx in self.stores.values():
            idx.close()


def store_name(path: Path) -> str:
    """A store's folder name; for the default `.omnivec` folder, the name of the folder it indexes."""
    path = Path(path).resolve()
    return path.parent.name if path.name == STORE_DIRNAME else path.name


def _unique(name: str, taken: dict[str, Index]) -> str:
    n, out = 2, name
    while out in taken:
        out, n = f"{name}-{n}", n + 1
    return out


def _open(path: Path, settings: ServerSettings) -> Index:
    from omnivec.api import Index
    from omnivec.config import default_model
    from omnivec.index.config import IndexConfig

    if settings.writable and IndexConfig.load(Path(path)) is None:
        # a store for pushed documents only: it indexes no folder of its own
        model = settings.models[0] if settings.models else default_model()
        log.info("creating a document store at %s with %s", path, model)
        return Index.create(path, path, text_model=model, image_model=None, screenshot_model=None)
    return Index.open(path, writer=settings.writable)
