"""BGE-VL-Screenshot's recipe comes from its checkpoint: a tiny random Qwen2.5-VL saved with its own
chat template, its own sentence-transformers prompts and its own pixel limits, and the vectors
follow those files, not omnivec's constants."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omnivec.encoders.qwen_vl import QwenVLEncoder, chat_template
from omnivec.encoders.registry import get_spec, load_encoder
from omnivec.errors import ModelUnavailableError, RecipeMismatchError
from omnivec.types import Item
from tests.encoders.contract import check_contract
from tests.encoders.inputs import picture
from tests.encoders.references import qwen_vl_reference
from tests.tiny.qwen_vl import (
    CUSTOM_CHAT_TEMPLATE,
    build_tiny_qwen_vl,
    sentence_transformers_files,
)

PROMPTS = {"query": "Find the screenshot that answers this.", "document": "A screenshot."}
PIXELS = (6 * 28 * 28, 12 * 28 * 28)  # 6..12 visual tokens: not the tiny default 4..16
VISION = "<|vision_start|><|image_pad|><|vision_end|>"


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen_vl(
        tmp_path_factory.mktemp("custom-qwen-vl"),
        chat_template=CUSTOM_CHAT_TEMPLATE,
        min_pixels=PIXELS[0],
        max_pixels=PIXELS[1],
        extra_files=sentence_transformers_files(PROMPTS),
    )


def _variant(src: Path, dst: Path, **files: Any) -> Path:
    """A copy of `src` with some files rewritten (JSON for dicts)."""
    shutil.copytree(src, dst)
    for name, content in files.items():
        text = json.dumps(content) if isinstance(content, dict) else content
        (dst / name.replace("__", ".")).write_text(text)
    return dst


def _items() -> list[Item]:
    return [
        Item(text="quarterly revenue table"),
        Item(image=picture(1, (90, 60))),
        Item(text="the chart on page two", image=picture(2, (40, 120))),
    ]


def _frame(role: str, system: str | None, content: str, task: str) -> str:
    head = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
    return f"{head}<|im_start|>user\n[{task}]\n{content}<|im_end|>\n<|im_start|>assistant\nvector:"


def test_prompts_are_the_checkpoints(custom: Path) -> None:
    enc: Any = load_encoder(str(custom))
    assert enc.spec.default_instruction == PROMPTS["query"]
    assert (enc.spec.options["min_pixels"], enc.spec.options["max_pixels"]) == PIXELS
    assert enc._visual_tokens(picture(4, (28, 28))) >= 6  # the checkpoint's floor, not Qwen's 4
    img = picture(1)
    assert enc.prompt(Item(text="revenue"), "query") == _frame("query", PROMPTS["query"], "revenue", "query")
    assert enc.prompt(Item(image=img), "document") == _frame(
        "document", PROMPTS["document"], VISION, "document"
    )
    assert enc.prompt(Item(text="t", image=img), "query", "Own.") == _frame(
        "query", "Own.", "t" + VISION, "query"
    )
    recipe = json.dumps(enc.spec.recipe())
    assert PROMPTS["query"] in recipe and PROMPTS["document"] in recipe and "vector:" in recipe


@pytest.mark.parametrize("role", ["query", "document"])
def test_vectors_follow_the_checkpoint_files(custom: Path, role: str) -> None:
    enc = load_encoder(str(custom))
    ref = qwen_vl_reference(
        custom, role, PROMPTS["query"], document_prompt=PROMPTS["document"], pixels=PIXELS
    )
    check_contract(enc, _items(), role=role, reference=ref)


def test_changing_the_query_prompt_changes_query_vectors_only(custom: Path, tmp_path: Path) -> None:
    new = {"query": "Which page shows this?", "document": PROMPTS["document"]}
    other = _variant(custom, tmp_path / "other", config_sentence_transformers__json={"prompts": new})
    a, b = load_encoder(str(custom)), load_encoder(str(other))
    items = _items()
    qa, qb = a.encode(items, role="query"), b.encode(items, role="query")
    assert np.abs(qa - qb).max() > 1e-3
    ref = qwen_vl_reference(other, "query", new["query"], pixels=PIXELS)
    np.testing.assert_allclose(qb, np.stack([r / np.linalg.norm(r) for r in map(ref, items)]), atol=1e-5)
    np.testing.assert_allclose(a.encode(items), b.encode(items), atol=1e-6)  # documents unchanged
    assert a.spec.recipe() != b.spec.recipe()


def test_changing_max_pixels_moves_the_image_grid(custom: Path, tmp_path: Path) -> None:
    config = json.loads((custom / "preprocessor_config.json").read_text())
    config["max_pixels"] = config["size"]["longest_edge"] = 8 * 28 * 28
    other = _variant(custom, tmp_path / "other", preprocessor_config__json=config)
    a, b = load_encoder(str(custom)), load_encoder(str(other))
    big = Item(image=picture(3, (336, 252)))  # 108 tokens natively: 12 at the checkpoint's cap
    (pa,), (pb,) = a.preprocess([big], "document", None), b.preprocess([big], "document", None)
    grid = b.collate([pb], "left")["image_grid_thw"]
    assert pb.data.visual_tokens == int(grid.prod()) // 4 <= 8 < pa.data.visual_tokens <= 12
    assert b.spec.options["max_pixels"] == 8 * 28 * 28
    ref = qwen_vl_reference(
        other, "document", document_prompt=PROMPTS["document"], pixels=(PIXELS[0], 8 * 28 * 28)
    )
    check_contract(b, [big, *_items()[1:]], reference=ref)


def test_a_max_pixels_cap_below_the_checkpoints_is_recorded(custom: Path) -> None:
    cap = 8 * 28 * 28
    enc: Any = load_encoder(str(custom), max_pixels=cap)
    options = enc.spec.recipe()["options"]
    assert (options["max_pixels"], options["checkpoint_pixels"]) == (cap, PIXELS)
    ref = qwen_vl_reference(custom, "document", document_prompt=PROMPTS["document"], pixels=(PIXELS[0], cap))
    check_contract(enc, _items()[1:], reference=ref)


def test_a_stored_recipe_that_disagrees_is_refused(custom: Path, tmp_path: Path) -> None:
    from omnivec.stores.local import LocalStore

    other = _variant(
        custom, tmp_path / "other", config_sentence_transformers__json={"prompts": {"query": "x"}}
    )
    a, b = load_encoder(str(custom)), load_encoder(str(other))
    # same weights and template: the recipe (part of the fingerprint) tells them apart
    assert a.fingerprint.split(":")[0] == b.fingerprint.split(":")[0] and a.fingerprint != b.fingerprint
    with LocalStore(tmp_path / "store", writer=True) as store:
        store.ensure_collection(
            "screenshots", model=a.spec.name, fingerprint=a.fingerprint, dim=a.dim, recipe=a.spec.recipe()
        )
        store.check_query("screenshots", fingerprint=a.fingerprint, recipe=a.spec.recipe())
        with pytest.raises(RecipeMismatchError, match="default_instruction"):
            store.check_query("screenshots", fingerprint=b.fingerprint, recipe=b.spec.recipe())


def test_an_explicit_recipe_that_disagrees_is_refused(custom: Path) -> None:
    stock = replace(
        get_spec("BAAI/BGE-VL-Screenshot"), dim=None, name="stock-qwen-format",
        query_template=chat_template("{instruction}"),
        query_template_bare=chat_template("You are a helpful assistant."),
        document_template=chat_template("You are a helpful assistant."),
        options={"prompt_source": "recipe"},
    )  # fmt: skip
    with pytest.raises(RecipeMismatchError, match="document_template: recipe"):
        QwenVLEncoder.load(stock, custom)
    with pytest.raises(RecipeMismatchError, match="checkpoint's query prompt"):
        QwenVLEncoder.load(replace(stock, default_instruction="Mine.", options={}), custom)


def test_a_checkpoint_recipe_agrees_with_itself(tmp_path: Path) -> None:
    path = build_tiny_qwen_vl(tmp_path / "stock")  # Qwen's own format and default system turn
    stock = replace(
        get_spec("BAAI/BGE-VL-Screenshot"), dim=None,
        query_template=chat_template("{instruction}"),
        query_template_bare=chat_template("You are a helpful assistant."),
        document_template=chat_template("You are a helpful assistant."),
        options={"prompt_source": "recipe"},
    )  # fmt: skip
    enc = QwenVLEncoder.load(stock, path)
    assert enc.spec.options["prompt_source"] == "recipe"


def test_generation_prompt_follows_the_sentence_transformers_config(custom: Path, tmp_path: Path) -> None:
    config = json.loads((custom / "sentence_bert_config.json").read_text())
    config["processing_kwargs"]["chat_template"]["add_generation_prompt"] = False
    other = _variant(custom, tmp_path / "other", sentence_bert_config__json=config)
    enc: Any = load_encoder(str(other))
    assert enc.prompt(Item(text="x"), "document").endswith("[document]\nx<|im_end|>\n")
    ref = qwen_vl_reference(
        other, "document", document_prompt=PROMPTS["document"], pixels=PIXELS, add_generation_prompt=False
    )
    check_contract(enc, _items(), reference=ref)


@pytest.mark.parametrize(
    "template,match",
    [
        (None, "without a chat template"),
        (CUSTOM_CHAT_TEMPLATE.replace("<|vision_start|>", "Picture: <|vision_start|>"), "cannot rebuild"),
        (CUSTOM_CHAT_TEMPLATE.replace("{{ part['text'] }}", "{{ part['text'] | trim }}"), "cannot rebuild"),
        (CUSTOM_CHAT_TEMPLATE.replace("]\n", "] "), "cannot rebuild"),  # ' the' merges over the seam
        ("{{ raise_exception('no') }}", "cannot render"),
    ],
)
def test_templates_omnivec_cannot_follow_are_refused(
    tmp_path: Path, template: str | None, match: str
) -> None:
    path = build_tiny_qwen_vl(tmp_path / "t", chat_template=template)
    (path / "chat_template.jinja").unlink(missing_ok=True)
    if template is not None:
        (path / "chat_template.jinja").write_text(template)
    with pytest.raises(ModelUnavailableError, match=match):
        load_encoder(str(path))
