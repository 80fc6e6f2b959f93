"""LLaVA-NeXT family (BGE-VL MLLM): exact prompts, last-token parity, mixed batches, visual-token costs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from omnivec.encoders.llava_next import CIR, IMAGE_TO_CAPTION, TEXT_TO_IMAGE, build_prompt, load_square
from omnivec.encoders.registry import get_spec, load_encoder
from omnivec.errors import InputError, ModelUnavailableError
from omnivec.types import Item
from tests.encoders.inputs import picture
from tests.encoders.references import llava_reference, llava_stock

S1 = "BAAI/BGE-VL-MLLM-S1"


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    from tests.tiny.llava import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


@pytest.fixture(scope="module")
def enc(tiny_llava):
    return load_encoder(str(tiny_llava), recipe=S1)


@pytest.fixture(scope="module")
def stock(tiny_llava):
    return llava_stock(tiny_llava)


# --- prompt strings, exactly (double spaces included) -------------------------------------------
PROMPTS = [
    ("query", CIR, "make it dark", True,
     "[INST] \n <instruct> " + CIR + " <query>  make it dark \n <image> [/INST]"),
    ("query", TEXT_TO_IMAGE, "a red car", False,
     "[INST] \n <instruct> Find me an image that matches the given caption <query>  a red car \n [/INST]"),
    ("query", None, "a red car", False, "[INST] \n <instruct>  <query> a red car \n [/INST]"),
    ("query", None, None, True, "[INST] \n <instruct>  <query> <image> [/INST]"),
    ("document", None, "a red car", False, "[INST]  a red car \n [/INST]"),
    ("document", None, None, True, "[INST]  <image> [/INST]"),
    ("document", None, "a red car", True, "[INST]  a red car \n <image> [/INST]"),
]  # fmt: skip


@pytest.mark.parametrize(("role", "instruction", "text", "image", "expected"), PROMPTS)
def test_prompt_strings(role, instruction, text, image, expected):
    spec = get_spec(S1)
    assert build_prompt(spec, role, instruction, text, "<image>" if image else None) == expected


@pytest.mark.parametrize(("role", "instruction", "text", "image", "expected"), PROMPTS)
def test_encoder_renders_the_same_prompts(enc, role, instruction, text, image, expected):
    item = Item(text=text, image=picture(0) if image else None)
    resolved = enc.spec.resolve_instruction(role, instruction)
    assert enc.preprocess([item], role, resolved)[0].data.prompt == expected


def test_instruction_presets():
    s1, v15 = get_spec(S1), get_spec("BAAI/BGE-VL-v1.5-mmeb")
    assert s1.instruction_for("cir") == CIR and CIR.endswith("instructions: ")
    assert s1.instruction_for("text-to-image") == TEXT_TO_IMAGE
    assert v15.instruction_for("image-to-caption") == IMAGE_TO_CAPTION
    with pytest.raises(InputError, match="image-to-caption"):
        s1.instruction_for("image-to-caption")  # a v1.5 instruction only
    for name in (S1, "BAAI/BGE-VL-MLLM-S2", "BAAI/BGE-VL-v1.5-zs", "BAAI/BGE-VL-v1.5-mmeb"):
        spec = get_spec(name)
        assert (spec.family, spec.dim, spec.padding_side, spec.pooling) == (
            "llava_next",
            4096,
            "left",
            "last",
        )


# --- vectors ----------------------------------------------------------------------------------------
def mixed_items() -> list:
    return [
        Item(text="a red car"),
        Item(image=picture(1)),
        Item(text="make the background dark", image=picture(2, (80, 30))),
        Item(text="a much longer caption about a dog running in a green park at noon"),
        Item(image=picture(3, (16, 70), "RGBA")),
    ]


def reference(stock, role, instruction):
    return llava_reference(stock, get_spec(S1), role, instruction)


@pytest.mark.parametrize(("role", "task"), [("document", None), ("query", "cir"), ("query", None)])
def test_mixed_batch_contract_and_reference(enc, stock, role, task):
    from tests.encoders.contract import check_contract

    instruction = CIR if task == "cir" else None
    check_contract(enc, mixed_items(), role=role, task=task, reference=reference(stock, role, instruction))


def test_homogeneous_batches_match_mixed(enc):
    items = mixed_items()
    mixed = enc.encode(items, role="query", task="cir")
    for rows in ([0, 3], [1, 4], [2]):  # text-only, image-only, composed-only
        alone = enc.encode([items[i] for i in rows], role="query", task="cir")
        np.testing.assert_allclose(alone, mixed[rows], atol=1e-5)


def test_left_padded_positions_count_real_tokens(enc):
    prepared = enc.preprocess([Item(text="a"), Item(text="a much longer caption")], "document", None)
    batch = enc.collate(prepared, "left")
    first_real = batch["attention_mask"][0].argmax()
    assert batch["input_ids"][0, 0] == enc.tokenizer.pad_token_id
    assert batch["position_ids"][0, first_real] == 0
    assert batch["position_ids"][0, -1] == batch["attention_mask"][0].sum() - 1


def test_cost_is_the_expanded_sequence_length(enc, stock):
    _, proc = stock
    assert enc.image_tokens == 88  # 5 tiles of 32 px for a 512x512 image in the tiny model
    for item in mixed_items():
        prepared = enc.preprocess([item], "document", None)[0]
        images = [load_square(item.image, (512, 512))] if item.image is not None else None
        ids = proc(text=[prepared.data.prompt], images=images)["input_ids"][0]
        assert prepared.cost == len(ids)


def test_images_resized_before_rgb_conversion(tmp_path):
    from PIL import Image

    from omnivec.images import open_rgb, to_rgb

    img = picture(4, (30, 20)).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    path = tmp_path / "palette.png"
    img.save(path)
    got = np.asarray(load_square(str(path), (512, 512)))
    np.testing.assert_array_equal(got, np.asarray(to_rgb(Image.open(path).resize((512, 512)))))
    assert not np.array_equal(got, np.asarray(open_rgb(path).resize((512, 512))))


def test_odd_image_modes_load(enc, tmp_path):
    base = picture(5, (48, 40))
    items = []
    for mode, suffix in (("RGBA", "png"), ("L", "png"), ("CMYK", "jpg"), ("LA", "png")):
        path = tmp_path / f"img-{mode}.{suffix}"
        base.convert(mode).save(path)
        items.append(Item(image=str(path)))
    vecs = enc.encode(items)
    assert vecs.shape == (4, 32) and np.isfinite(vecs).all()


def test_truncation_cuts_text_and_keeps_template_and_image(tiny_llava):
    small = load_encoder(str(tiny_llava), recipe=S1, max_length=160)
    long = "word " * 200
    res = small.embed([Item(text="short"), Item(text=long, image=picture(6)), Item(text=long)])
    assert res.truncated == [1, 2]
    prepared = small.preprocess([Item(text=long, image=picture(6))], "document", None)[0]
    assert prepared.truncated and prepared.cost <= 160 < prepared.original_cost
    assert prepared.data.prompt.endswith(" \n <image> [/INST]")
    with pytest.raises(InputError, match="cannot be cut"):
        load_encoder(str(tiny_llava), recipe=S1, max_length=90).encode([Item(text=long, image=picture(6))])


def test_wrong_inputs_are_clear_errors(enc, monkeypatch):
    with pytest.raises(InputError, match="input #1: text containing the image placeholder"):
        enc.encode(["fine", "see <image> here"])
    monkeypatch.setattr(enc, "spec", replace(enc.spec, modalities=("text",)))
    with pytest.raises(InputError, match="input #0: an image item"):
        enc.encode([Item(image=picture(0))])


def test_legacy_processor_config_is_completed_loudly(tmp_path, enc, caplog):
    from tests.tiny.llava import build_tiny_llava

    path = build_tiny_llava(tmp_path, legacy_processor=True)
    legacy = load_encoder(str(path), recipe=S1)
    assert "counting CLS" in caplog.text and "no patch_size" in caplog.text
    assert legacy.image_tokens == enc.image_tokens
    items = mixed_items()[:3]
    np.testing.assert_allclose(legacy.encode(items), enc.encode(items), atol=1e-5)


def test_dimension_is_checked_on_load(tiny_llava):
    from omnivec.encoders.llava_next import LlavaNextEncoder

    assert load_encoder(str(tiny_llava)).spec.family == "llava_next"  # picked by model_type
    with pytest.raises(ModelUnavailableError, match="hidden size 32"):
        LlavaNextEncoder.load(get_spec(S1), tiny_llava)
