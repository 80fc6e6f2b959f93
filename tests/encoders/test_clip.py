"""CLIP family (BGE-VL-base/large): per-item parity with CLIPModel, composition, truncation, images."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from omnivec.encoders.registry import get_spec, load_encoder
from omnivec.errors import InputError, ModelUnavailableError
from omnivec.images import open_rgb
from omnivec.types import Item
from tests.encoders.contract import check_contract
from tests.encoders.inputs import picture
from tests.encoders.references import clip_reference

LONG = "the cat sat on a mat " * 30  # about 120 tokens: over CLIP's 77


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from tests.tiny.clip import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def enc(tiny_clip):
    return load_encoder(str(tiny_clip))


@pytest.fixture(scope="module")
def reference(tiny_clip):
    return clip_reference(tiny_clip)


def mixed_items() -> list:
    return [
        "the cat",
        Item(image=picture(0)),
        Item(text="make it dark", image=picture(1, (64, 30))),
        "a much longer description of a photo with a dog in a park",
        Item(image=picture(2, (20, 90))),
        Item(text="the cat, but red", image=picture(3)),
        LONG,
    ]


def test_mixed_batch_contract_and_reference(enc, reference):
    for role in ("document", "query"):
        check_contract(enc, mixed_items(), role=role, reference=reference)


def test_modern_eos_config_contract(tmp_path):
    from tests.tiny.clip import build_tiny_clip

    modern = load_encoder(str(build_tiny_clip(tmp_path, legacy_eos=False)))
    check_contract(modern, mixed_items()[:4])


def test_composed_is_sum_of_unnormalised_projections(enc, reference):
    img = picture(7)
    text, image, composed = enc.encode(
        ["make it dark", Item(image=img), Item(text="make it dark", image=img)]
    )
    ref = reference(Item(text="make it dark")) + reference(Item(image=img))
    np.testing.assert_allclose(composed, ref / np.linalg.norm(ref), atol=1e-5)
    # not the sum of the normalised parts
    normalised = (text + image) / np.linalg.norm(text + image)
    assert not np.allclose(composed, normalised, atol=1e-4)


def test_homogeneous_batches_match_mixed(enc):
    items = mixed_items()
    mixed = enc.encode(items)
    for keep in (lambda it: isinstance(it, str), lambda it: isinstance(it, Item) and not it.text):
        rows = [i for i, it in enumerate(items) if keep(it)]
        np.testing.assert_allclose(enc.encode([items[i] for i in rows]), mixed[rows], atol=1e-5)


def test_truncation_is_reported_per_item(enc, reference):
    img = picture(4)
    res = enc.embed(["short", LONG, Item(text=LONG, image=img), Item(image=img)])
    assert res.truncated == [1, 2]
    assert enc.spec.max_length == 77
    np.testing.assert_allclose(res.vectors[1], _unit(reference(Item(text=LONG))), atol=1e-5)
    assert enc.token_counts([LONG])[0] > 77


def test_odd_image_modes_and_paths(enc, tmp_path):
    base = picture(5, (48, 40))
    for mode, suffix in (("RGBA", "png"), ("L", "png"), ("CMYK", "jpg"), ("P", "png"), ("I;16", "png")):
        path = tmp_path / f"img-{mode.replace(';', '')}.{suffix}"
        base.convert(mode if mode != "I;16" else "I").convert(mode).save(path)
        from_path = enc.encode([Item(image=str(path))])
        np.testing.assert_allclose(from_path[0], enc.encode([Item(image=open_rgb(path))])[0], atol=1e-6)


def test_unreadable_image_is_a_clear_error(enc, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match=r"bad\.png"):
        enc.encode([Item(image=str(bad))])


def test_image_for_text_only_recipe_is_refused(enc, monkeypatch):
    monkeypatch.setattr(enc, "spec", replace(enc.spec, modalities=("text",)))
    with pytest.raises(InputError, match="input #1: an image item"):
        enc.encode(["fine", Item(image=picture(0))])


def test_no_instruction_slot(enc):
    with pytest.raises(InputError, match="no instruction slot"):
        enc.encode(["q"], role="query", instruction="Find an image")


def test_registered_specs_and_dim_check(tiny_clip):
    from omnivec.encoders.clip import ClipEncoder

    base, large = get_spec("BAAI/BGE-VL-base"), get_spec("bge-vl-large")
    assert (base.family, base.dim, large.dim, base.max_length) == ("clip", 512, 768, 77)
    assert base.query_template == "{text}" and not base.takes_instruction
    # a folder decides its own dimension; the official recipe's 512 must match the weights
    assert load_encoder(str(tiny_clip), recipe="BAAI/BGE-VL-base").dim == 16
    with pytest.raises(ModelUnavailableError, match="projection_dim 16"):
        ClipEncoder.load(base, tiny_clip)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)
