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


def test_docstring_code_is_cut_shorter_and_batches_hold_one_kind(tiny_bert: Path, tmp_path: Path):
    from sentence_transformers import SentenceTransformer

    from omnivec.tune.train import _datasets

    long_code = "def add(x):\n" + "    y = x + 1\n" * 40
    mixed = [
        Pair("docstring", f"add one to x, case {i}", long_code, f"d{i}", negative=long_code) for i in range(5)
    ]
    mixed += [Pair("halves", f"def f{i}(x):\n    a = 1\n", long_code, f"h{i}") for i in range(3)]
    tokenizer = SentenceTransformer(str(tiny_bert), device="cpu").tokenizer
    sets = _datasets(mixed, TrainSettings(docstring_max_length=24), tokenizer, 128)
    assert (
        sorted(sets) == ["docstring", "halves"] and len(sets["docstring"]) == 5 and len(sets["halves"]) == 3
    )
    for column in ("positive", "negative"):
        for text in sets["docstring"][column]:
            assert long_code.startswith(text) and len(tokenizer(text)["input_ids"]) <= 24
    assert sets["halves"]["positive"] == [long_code] * 3  # code-to-code pairs keep their length
    # batches never mix kinds: 5 docstring pairs in batches of 4 and 3 halves pairs make 2 + 1 steps
    # (mixed, the 8 pairs would make 2)
    report = train(
        tiny_bert, mixed, TrainSettings(batch_size=4, budget_s=None, max_length=64), tmp_path / "t"
    )
    assert report.steps == 3 == report.planned_steps
