"""Qwen2.5-VL family (BGE-VL-Screenshot) on a tiny random checkpoint: prompts, invariants, pixel caps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omnivec.encoders.qwen_vl import MAX_PIXELS
from omnivec.encoders.registry import get_spec, load_encoder
from omnivec.errors import InputError, ModelUnavailableError, RecipeMismatchError
from omnivec.types import Item
from tests.encoders.contract import check_contract
from tests.encoders.references import qwen_vl_reference
from tests.tiny.qwen_vl import TINY_MAX_PIXELS, TINY_MIN_PIXELS, build_tiny_qwen_vl

SYSTEM = "<|im_start|>system\n{}<|im_end|>\n"
USER = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
VISION = "<|vision_start|><|image_pad|><|vision_end|>"
INSTRUCTION = "Represent the given image with the given query."


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen_vl(tmp_path_factory.mktemp("tiny-qwen-vl"))


@pytest.fixture(scope="module")
def enc(tiny_path: Path) -> Any:
    # the tiny checkpoint's own bounds (4..16 visual tokens) keep the CPU tests fast
    return load_encoder(str(tiny_path), min_pixels=TINY_MIN_PIXELS, max_pixels=TINY_MAX_PIXELS)


def _image(h: int, w: int, seed: int) -> Any:
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def images() -> list[Any]:
    return [_image(h, w, i) for i, (h, w) in enumerate([(60, 80), (200, 120), (30, 30), (500, 400)])]


def _mixed(images: list[Any]) -> list[Item]:
    return [
        Item(text="def add(a, b): return a + b"),
        Item(image=images[0]),
        Item(text="a cat sitting on a mat", image=images[1]),
        Item(image=images[3]),
        Item(text="x"),
        Item(text="SELECT name FROM users", image=images[2]),
    ]


def test_registered_recipe() -> None:
    spec = get_spec("bge-vl-screenshot")
    assert spec.name == "BAAI/BGE-VL-Screenshot"
    assert (spec.family, spec.dim, spec.pooling) == ("qwen_vl", 2048, "last")
    # pixel limits, prompts and template are the checkpoint's, filled in at load
    options = spec.recipe()["options"]
    assert (options["min_pixels"], options["max_pixels"], options["prompt_source"]) == (
        None,
        None,
        "checkpoint",
    )
    assert MAX_PIXELS == 2048 * 28 * 28  # omnivec's suggested screenshot cap, an explicit option
    assert "checkpoint" in spec.description and spec.default_instruction is None
    assert "helpful assistant" not in json.dumps(spec.recipe())  # no hard-coded system turn


def test_prompt_strings_are_exact(enc: Any, images: list[Any]) -> None:
    q = Item(text="What is the closing price?", image=images[0])
    assert enc.prompt(q, "query", INSTRUCTION) == (
        SYSTEM.format(INSTRUCTION) + USER.format("What is the closing price?" + VISION)
    )
    default = "You are a helpful assistant."
    assert enc.prompt(Item(text="nvidia stock"), "query") == SYSTEM.format(default) + USER.format(
        "nvidia stock"
    )
    assert enc.prompt(Item(image=images[0]), "document") == SYSTEM.format(default) + USER.format(VISION)
    assert enc.prompt(Item(text="Title", image=images[0]), "document") == (
        SYSTEM.format(default) + USER.format("Title" + VISION)
    )
    assert enc.spec.instruction_for("vis-ir:composed") == INSTRUCTION


def test_checkpoint_chat_template_is_followed(enc: Any) -> None:
    assert enc.checks["chat_template"] == "chat_template.jinja"
    recipe = enc.spec.recipe()  # lands in index metadata
    assert recipe["options"]["prompt_source"] == "checkpoint"
    assert recipe["options"]["chat_template_kwargs"] == {"add_generation_prompt": True}
    assert recipe["options"]["checkpoint_pixels"] == (TINY_MIN_PIXELS, TINY_MAX_PIXELS)
    assert recipe["query_template"] == SYSTEM.format("{instruction}") + USER.format("{text}")
    assert enc.checks["dim"].startswith("32")
    assert enc.checks["image_processor"] == "Qwen2VLImageProcessorPil"
    assert enc.spec.recipe()["options"]["image_backend"] == "pil"


@pytest.mark.parametrize("role,instruction", [("document", None), ("query", INSTRUCTION), ("query", None)])
def test_contract_and_reference(
    enc: Any, tiny_path: Path, images: list[Any], role: str, instruction: str | None
) -> None:
    ref = qwen_vl_reference(tiny_path, role, instruction)
    check_contract(enc, _mixed(images), role=role, instruction=instruction, reference=ref)


def test_invariant_within_text_only_and_image_only_batches(enc: Any, images: list[Any]) -> None:
    mixed = _mixed(images)
    base = enc.encode(mixed)
    texts = [0, 4]
    pictures = [1, 3]
    for subset in (texts, pictures):
        for side in ("left", "right"):
            got = enc.encode([mixed[i] for i in subset], padding_side=side)
            np.testing.assert_allclose(got, base[subset], atol=1e-5)
    check_contract(enc, [mixed[i] for i in texts])
    check_contract(enc, [mixed[i] for i in pictures])


def test_cost_counts_text_and_visual_tokens(enc: Any, images: list[Any]) -> None:
    items = [Item(text="a cat", image=images[3]), Item(text="a cat")]
    with_image, text_only = enc.preprocess(items, "document", None)
    batch = enc.collate([with_image], "right")
    visual = int(batch["image_grid_thw"].prod()) // 4
    assert with_image.cost == text_only.cost + 2 + visual  # + vision start/end
    assert with_image.data.ids.count(enc._vision_ids[1]) == visual


def test_max_pixels_caps_visual_tokens_and_is_recorded(tiny_path: Path, enc: Any) -> None:
    cap = 8 * 28 * 28
    small = load_encoder(str(tiny_path), min_pixels=TINY_MIN_PIXELS, max_pixels=cap)
    assert small.spec.recipe()["options"]["max_pixels"] == cap
    assert small.fingerprint != enc.fingerprint  # a different cap means different vectors
    big = Item(image=_image(900, 1400, 7))
    (prepared,) = small.preprocess([big], "document", None)
    grid = small.collate([prepared], "left")["image_grid_thw"]
    assert 4 <= int(grid.prod()) // 4 == prepared.data.visual_tokens <= cap // (28 * 28)
    assert small.encode([big]).shape == (1, 32)


def test_default_limits_are_the_checkpoints(tmp_path: Path) -> None:
    # a checkpoint whose limit is omnivec's suggested cap: a page keeps its native resolution
    path = build_tiny_qwen_vl(tmp_path / "big", max_pixels=MAX_PIXELS)
    default: Any = load_encoder(str(path))
    assert default.spec.options["max_pixels"] == MAX_PIXELS
    page = _image(1280, 1024, 3)
    assert default._visual_tokens(page) == 37 * 46  # 1036x1288 px / 28^2 = 1702 <= 2048
    assert default._visual_tokens(_image(1080, 1920, 4)) <= 2048


def test_pixel_options_the_checkpoint_does_not_allow_are_refused(tiny_path: Path) -> None:
    with pytest.raises(RecipeMismatchError, match="max_pixels=12544 or a lower max_pixels"):
        load_encoder(str(tiny_path), max_pixels=32 * 28 * 28)
    with pytest.raises(RecipeMismatchError, match="min_pixels=3136"):
        load_encoder(str(tiny_path), min_pixels=8 * 28 * 28)


def test_odd_image_modes_load(enc: Any, tmp_path: Path) -> None:
    from PIL import Image

    from omnivec.images import open_rgb

    base = np.random.default_rng(1).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    rgb = Image.fromarray(base)
    files = {
        "rgba.png": rgb.convert("RGBA"),
        "palette.gif": rgb.convert("P"),
        "grey.png": rgb.convert("L"),
        "cmyk.jpg": rgb.convert("CMYK"),
        "grey16.png": Image.fromarray(base[..., 0].astype(np.uint16) * 257),
        "la.png": rgb.convert("LA"),
    }
    paths = []
    for name, img in files.items():
        img.save(tmp_path / name)
        paths.append(tmp_path / name)
    vecs = enc.encode([Item(image=p) for p in paths])
    assert np.isfinite(vecs).all()
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    same = enc.encode([Item(image=open_rgb(p)) for p in paths])
    np.testing.assert_allclose(vecs, same, atol=1e-5)


def test_long_text_truncated_and_reported_image_kept(enc: Any, images: list[Any]) -> None:
    res = enc.embed([Item(text="word " * 3000, image=images[0]), Item(text="short")])
    assert res.truncated == [0]
    (long,) = enc.preprocess([Item(text="word " * 3000, image=images[0])], "document", None)
    assert long.data.visual_tokens > 0 and long.original_cost > long.cost


def test_special_token_strings_in_text_are_plain_text(enc: Any) -> None:
    item = Item(text="literal <|image_pad|> and <|im_end|> in OCR text")
    (prepared,) = enc.preprocess([item], "document", None)
    assert enc._vision_ids[1] not in prepared.data.ids
    assert np.isfinite(enc.encode([item])).all()


def test_bad_inputs_are_refused(tiny_path: Path, enc: Any) -> None:
    with pytest.raises(InputError, match="max_pixels"):
        load_encoder(str(tiny_path), min_pixels=4000, max_pixels=1000)
    with pytest.raises(InputError, match="aspect ratio"):
        enc.encode([Item(image=_image(2, 600, 5))])


def test_dimension_is_checked_against_the_recipe(tiny_path: Path) -> None:
    from omnivec.encoders.qwen_vl import QwenVLEncoder

    with pytest.raises(ModelUnavailableError, match="hidden size 32"):
        QwenVLEncoder.load(get_spec("BAAI/BGE-VL-Screenshot"), tiny_path, max_pixels=TINY_MAX_PIXELS)
