"""A tiny training run changes the weights, saves a loadable checkpoint, and obeys the budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omnivec.encoders.registry import load_encoder
from omnivec.tune.pairs import Pair
from omnivec.tune.train import TrainSettings, train


def pairs(n: int) -> list[Pair]:
    return [
        Pair("docstring", f"add the number {i} to x", f"def add_{i}(x):\n    return x + {i}\n", f"c{i}",
             negative=f"def sub_{i}(x):\n    return x - {i}\n" if i % 2 else "")
        for i in range(n)
    ]  # fmt: skip


def test_training_changes_weights_and_saves_a_loadable_checkpoint(tiny_bert: Path, tmp_path: Path):
    out = tmp_path / "tuned"
    settings = TrainSettings(batch_size=4, budget_s=None, learning_rate=1e-3, max_length=32)
    report = train(tiny_bert, pairs(8), settings, out)
    assert report.steps == 2 == report.planned_steps and not report.stopped_by_budget
    assert report.hard_negatives == 4 and report.loss_start is not None and report.cpu_s > 0
    base, tuned = load_encoder(str(tiny_bert)), load_encoder(str(out))
    assert tuned.fingerprint != base.fingerprint
    assert tuned.spec.max_length == base.spec.max_length  # training truncation is not saved
    text = ["def add_3(x):\n    return x + 3\n"]
    assert not np.allclose(base.encode(text, role="document"), tuned.encode(text, role="document"))


def test_budget_stops_training_cleanly(tiny_bert: Path, tmp_path: Path):
    settings = TrainSettings(batch_size=4, budget_s=0.0, max_length=32)
    report = train(tiny_bert, pairs(16), settings, tmp_path / "tuned")
    assert report.stopped_by_budget and report.steps == 1 and report.planned_steps == 4
    assert load_encoder(str(tmp_path / "tuned")).dim == 32


def test_saved_folder_loads_in_sentence_transformers_with_the_same_settings(tiny_bert: Path, tmp_path: Path):
    from sentence_transformers import SentenceTransformer

    train(tiny_bert, pairs(4), TrainSettings(batch_size=4, budget_s=None, max_length=16), tmp_path / "t")
    model = SentenceTransformer(str(tmp_path / "t"), device="cpu")
    assert model.max_seq_length == 64
    ours = load_encoder(str(tmp_path / "t")).encode(["def f(x): return x"], role="document")
    assert np.allclose(ours, model.encode(["def f(x): return x"], normalize_embeddings=True), atol=1e-5)
