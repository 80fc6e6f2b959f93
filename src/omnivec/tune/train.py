"""Contrastive fine-tuning with sentence-transformers' trainer, on CPU, within a time budget.

The loss is MultipleNegativesRankingLoss: every other positive in the batch is a negative, and a
pair's hard negative (when it has one) is one more. Each batch holds one kind of pair (docstring or
halves), so its in-batch negatives are of the same kind as its positives. `cached=True` switches to the cached variant
(GradCache), which keeps the same large batch in a fraction of the memory.
"""

from __future__ import annotations

import json
import logging
import math
import random
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omnivec.errors import InputError, require
from omnivec.tune.pairs import Pair

log = logging.getLogger(__name__)

DEFAULT_BUDGET_MINUTES = 18.0
#: progress(step, total_steps, last_loss)
TrainProgress = Callable[[int, int, float | None], None]


@dataclass(frozen=True)
class TrainSettings:
    """How to train. `max_length` truncates texts during training only (the saved model keeps the
    base model's limit): most of a function's signal is in its first 128 tokens, at half the cost.
    `docstring_max_length` cuts the code of docstring pairs shorter still: a summary sentence
    describes a function's opening (96 tokens lost nothing on docstring queries, docs/results.md),
    while the halves pairs need their length, and batches hold one kind of pair each, so a
    docstring batch is padded to its own, shorter texts."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    max_length: int = 128
    docstring_max_length: int | None = 96
    # the default 4000 pairs (126 steps) take ~14 min on a quiet 2-core machine; the budget stops a
    # slower one so that mining + training stay under 20 minutes (docs/results.md, omnivec tune)
    budget_s: float | None = DEFAULT_BUDGET_MINUTES * 60
    seed: int = 0
    cached: bool = False
    mini_batch_size: int = 16  # only with `cached`
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "max_length", "mini_batch_size", "docstring_max_length"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(
                    f"{name} {getattr(self, name)}", "a value of 1 or more", f"pass a positive {name}"
                )
        if self.batch_size < 2:
            raise InputError(
                f"batch size {self.batch_size}", "2 or more (in-batch negatives)", "pass --batch-size 32"
            )


@dataclass
class TrainReport:
    examples: int
    hard_negatives: int
    steps: int
    planned_steps: int
    stopped_by_budget: bool
    loss_start: float | None
    loss_end: float | None
    wall_s: float
    cpu_s: float
    losses: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("losses")
        return out


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _columns(pairs: Sequence[Pair], seed: int) -> dict[str, list[str]]:
    """anchor / positive / negative columns; a pair without a hard negative gets a random positive."""
    cols = {"anchor": [p.anchor for p in pairs], "positive": [p.positive for p in pairs]}
    if any(p.negative for p in pairs):
        rng = random.Random(seed)
        pool = cols["positive"]
        cols["negative"] = [p.negative or _other(pool, i, rng) for i, p in enumerate(pairs)]
    return cols


def _by_kind(pairs: Sequence[Pair]) -> dict[str, list[Pair]]:
    groups: dict[str, list[Pair]] = {}
    for p in pairs:
        groups.setdefault(p.kind, []).append(p)
    return groups


def _cut(texts: list[str], tokenizer: Any, length: int) -> list[str]:
    """Each text cut after its first `length` tokens (special tokens included, as the model counts
    them), at the character offset where the next token starts; shorter texts stay as they are."""
    content = length - tokenizer.num_special_tokens_to_add()
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    out = []
    for text, offsets in zip(texts, enc["offset_mapping"], strict=True):
        out.append(text if len(offsets) <= content else text[: offsets[content][0]].rstrip())
    return out


def _datasets(pairs: Sequence[Pair], s: TrainSettings, tokenizer: Any, model_length: int) -> dict[str, Any]:
    """One dataset per kind of pair (the trainer draws each batch from one of them)."""
    from datasets import Dataset

    out = {}
    for kind, group in _by_kind(pairs).items():
        cols = _columns(group, s.seed)
        if kind == "docstring" and s.docstring_max_length and s.docstring_max_length < model_length:
            for name in ("positive", "negative"):
                if name in cols:
                    cols[name] = _cut(cols[name], tokenizer, s.docstring_max_length)
        out[kind] = Dataset.from_dict(cols)
    return out


def _other(pool: list[str], i: int, rng: random.Random) -> str:
    if len(pool) < 2:
        return pool[i]
    j = rng.randrange(len(pool) - 1)
    return pool[j + (j >= i)]


def _callback(
    budget_s: float | None, progress: TrainProgress | None, losses: list[float], shared: dict[str, Any]
) -> Any:
    from transformers import TrainerCallback

    class Budget(TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            shared["start"] = time.monotonic()
            shared["planned"] = state.max_steps

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if budget_s is not None and time.monotonic() - shared["start"] >= budget_s:
                shared["stopped"] = state.global_step < state.max_steps
                control.should_training_stop = True

        def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            logs = kwargs.get("logs") or {}
            if "loss" in logs:
                losses.append(float(logs["loss"]))
            if progress is not None:
                progress(state.global_step, state.max_steps, losses[-1] if losses else None)

    return Budget()


def _arguments(s: TrainSettings, out: str, warmup: int) -> Any:
    from sentence_transformers import SentenceTransformerTrainingArguments

    return SentenceTransformerTrainingArguments(
        output_dir=out, num_train_epochs=s.epochs, per_device_train_batch_size=s.batch_size,
        learning_rate=s.learning_rate, warmup_steps=warmup, seed=s.seed, data_seed=s.seed,
        use_cpu=True, save_strategy="no", logging_steps=1, report_to="none", disable_tqdm=True,
        dataloader_num_workers=0, batch_sampler="no_duplicates", multi_dataset_batch_sampler="proportional",
    )  # fmt: skip


def train(
    base: Path,
    pairs: Sequence[Pair],
    settings: TrainSettings,
    out_dir: Path,
    progress: TrainProgress | None = None,
) -> TrainReport:
    """Fine-tune the sentence-transformers checkpoint at `base` on `pairs`; save it to `out_dir`."""
    require("datasets", "tune", "omnivec tune")
    require("accelerate", "tune", "omnivec tune")
    st = require("sentence_transformers", "tune", "omnivec tune")
    import torch
    from sentence_transformers.sentence_transformer import losses as st_losses

    if len(pairs) < 2:
        raise InputError(f"{len(pairs)} training pairs", "at least 2", "index more code, or widen --from")
    if settings.threads:
        torch.set_num_threads(settings.threads)
    model = st.SentenceTransformer(str(base), device="cpu")
    keep_length = model.max_seq_length
    model.max_seq_length = min(settings.max_length, keep_length or settings.max_length)
    loss: Any
    if settings.cached:
        loss = st_losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=settings.mini_batch_size)
    else:
        loss = st_losses.MultipleNegativesRankingLoss(model)
    datasets = _datasets(pairs, settings, model.tokenizer, model.max_seq_length)
    steps = sum(math.ceil(len(d) / settings.batch_size) for d in datasets.values()) * settings.epochs
    warmup = int(settings.warmup_ratio * steps)
    losses: list[float] = []
    state: dict[str, Any] = {"stopped": False, "planned": 0}
    wall0, cpu0 = time.monotonic(), cpu_seconds()
    with tempfile.TemporaryDirectory(prefix="omnivec-tune-") as tmp:
        trainer = st.SentenceTransformerTrainer(
            model=model, args=_arguments(settings, tmp, warmup), train_dataset=datasets, loss=loss,
            callbacks=[_callback(settings.budget_s, progress, losses, state)],
        )  # fmt: skip
        _quiet(trainer)
        result = trainer.train()
    wall, cpu = time.monotonic() - wall0, cpu_seconds() - cpu0
    model.max_seq_length = keep_length
    window = max(1, min(10, len(losses) // 4))  # loss is noisy per step: average a few
    model.save(str(out_dir))
    legacy_st_settings(out_dir, keep_length)
    return TrainReport(
        examples=len(pairs), hard_negatives=sum(1 for p in pairs if p.negative),
        steps=int(result.global_step), planned_steps=int(state["planned"]),
        stopped_by_budget=bool(state["stopped"]),
        loss_start=_mean(losses[:window]), loss_end=_mean(losses[-window:]), wall_s=wall, cpu_s=cpu, losses=losses,
    )  # fmt: skip


_LEGACY_POOLING = {
    "cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens", "max": "pooling_mode_max_tokens",
    "lasttoken": "pooling_mode_lasttoken", "weightedmean": "pooling_mode_weightedmean_tokens",
}  # fmt: skip


def legacy_st_settings(folder: Path, max_length: int | None) -> None:
    """Also write pooling and length in the older sentence-transformers form.

    sentence-transformers 6 saves `"pooling_mode": "mean"` and keeps the length in the tokenizer's
    `model_max_length`; readers of the older files (omnivec's own `st_pooling` / `st_max_length`
    among them) look for `pooling_mode_mean_tokens: true` and `sentence_bert_config.json`'s
    `max_seq_length`. Version 6 accepts both (it drops the old pooling keys when `pooling_mode`
    is present), so the folder loads the same everywhere.
    """
    modules = folder / "modules.json"
    st_cfg = folder / "sentence_bert_config.json"
    if max_length and st_cfg.is_file():
        cfg = json.loads(st_cfg.read_text())
        st_cfg.write_text(json.dumps({**cfg, "max_seq_length": max_length}, indent=4))
    if not modules.is_file():
        return
    for mod in json.loads(modules.read_text()):
        cfg_path = folder / mod.get("path", "") / "config.json"
        if not str(mod.get("type", "")).endswith("Pooling") or not cfg_path.is_file():
            continue
        cfg = json.loads(cfg_path.read_text())
        mode = cfg.get("pooling_mode")
        if isinstance(mode, str) and mode in _LEGACY_POOLING:
            cfg.update({key: key == _LEGACY_POOLING[mode] for key in _LEGACY_POOLING.values()})
            cfg_path.write_text(json.dumps(cfg, indent=4))


def _quiet(trainer: Any) -> None:
    """Progress goes through our callback: drop the trainer's own printing of every log line."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None
