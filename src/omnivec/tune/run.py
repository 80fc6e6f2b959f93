"""`tune_index`: mine pairs from an index, train, keep the model in the store, re-embed.

>>> report = tune_index(Path("repo/.omnivec"), TuneOptions(from_paths=("repo/src",)))  # doctest: +SKIP
>>> report.pairs, report.train.steps, report.model                                     # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omnivec.errors import InputError
from omnivec.tune.pairs import (
    DEFAULT_MAX_PAIRS,
    PAIR_KINDS,
    PairKind,
    attach_negatives,
    count_kinds,
    mine_pairs,
    render_like,
)
from omnivec.tune.sources import store_candidates, store_neighbours
from omnivec.tune.store import base_of, keep_model, scratch_dir, switch_text_model
from omnivec.tune.train import TrainProgress, TrainReport, TrainSettings, cpu_seconds, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuneOptions:
    """What to mine and how to train; `from_paths` are folders or files under the indexed root."""

    from_paths: tuple[str, ...] = ()
    kinds: tuple[PairKind, ...] = PAIR_KINDS
    max_pairs: int = DEFAULT_MAX_PAIRS
    hard_negatives: bool = True
    train: TrainSettings = field(default_factory=TrainSettings)
    switch: bool = True  # re-embed the store with the tuned model when done


@dataclass
class TuneReport:
    base_model: str
    functions: int
    pairs: dict[str, int]
    hard_negatives: int
    mining_wall_s: float
    mining_cpu_s: float
    train: TrainReport
    model: str = ""
    fingerprint: str = ""
    reembed: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["train"] = self.train.as_dict()
        return out


def relative_prefixes(root: Path, paths: Sequence[str]) -> tuple[str, ...]:
    """`--from` paths as the store names them (relative to the root, posix); checked to exist."""
    out = []
    for raw in paths:
        p = Path(raw).expanduser()
        p = (p if p.is_absolute() else Path.cwd() / p).resolve()
        if not p.exists() or not p.is_relative_to(root):
            raise InputError(
                received=f"--from {raw}" + ("" if p.exists() else ", which does not exist"),
                expected=f"a folder or file inside the indexed root {root}",
                fix="pass folders of the indexed tree, e.g. --from src",
            )
        out.append(p.relative_to(root).as_posix())
    return tuple(out)


def trainable_path(model: str) -> Path:
    """The checkpoint folder of a text model the trainer can fine-tune (BERT family)."""
    from omnivec.encoders.registry import load_encoder

    enc = load_encoder(model)
    path = getattr(enc, "path", None)
    if enc.spec.family != "bert" or path is None:
        raise InputError(
            received=f"text model {model} (family {enc.spec.family})",
            expected="a BERT-family sentence-transformers model (the bundled MiniLM, bge-small, a folder)",
            fix="index with --model minilm, or tune a store built with a BERT-family model",
        )
    return Path(path)


def tune_index(
    store_dir: Path,
    options: TuneOptions,
    progress: TrainProgress | None = None,
    index_progress: Callable[[Any], None] | None = None,
) -> TuneReport:
    """Mine pairs from the indexed functions under `options.from_paths`, train from the store's
    base text model, keep the result in `STORE/models/`, and (with `switch`) re-embed with it."""
    from omnivec.api import Index

    wall0, cpu0 = time.monotonic(), cpu_seconds()
    with Index.open(store_dir) as idx:
        root, current = Path(idx.config.root), idx.config.text_model
        candidates, vectors = store_candidates(idx.store, relative_prefixes(root, options.from_paths))
        pairs = mine_pairs(candidates, options.kinds, options.max_pairs, options.train.seed)
        if not pairs:
            raise InputError(
                received=f"{len(candidates)} indexed functions with no usable pair",
                expected="functions with a docstring (4+ words) or with 8+ code lines",
                fix="widen --from, or index more code",
            )
        if options.hard_negatives:
            by_id = {c.id: c for c in candidates}
            near = store_neighbours(idx.store, vectors)
            pairs = attach_negatives(pairs, near, lambda nid, p: render_like(by_id[nid], p.kind))
    base = base_of(current)
    report = TuneReport(
        base_model=base, functions=len(candidates), pairs=count_kinds(pairs),
        hard_negatives=sum(1 for p in pairs if p.negative),
        mining_wall_s=time.monotonic() - wall0, mining_cpu_s=cpu_seconds() - cpu0,
        train=TrainReport(len(pairs), 0, 0, 0, False, None, None, 0.0, 0.0),
    )  # fmt: skip
    log.info("mined %s pairs from %d functions", report.pairs, len(candidates))
    scratch = scratch_dir(store_dir)
    report.train = train(trainable_path(base), pairs, options.train, scratch, progress)
    meta = {
        "base_model": base, "from": list(options.from_paths), "pairs": report.pairs,
        "hard_negatives": report.hard_negatives, "settings": asdict(options.train),
        "train": report.train.as_dict(),
    }  # fmt: skip
    dest, report.fingerprint = keep_model(scratch, store_dir, meta)
    report.model = str(dest)
    if options.switch:
        report.reembed = switch_text_model(store_dir, str(dest), progress=index_progress)
    return report
