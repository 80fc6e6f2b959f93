"""The encoder contract over every registered family, each on its cheapest test model, with a
reference computation, so an encoder that ignores its input cannot pass.

A new family is picked up from the registry on its own: until it has an entry in `CASES` its
contract test fails, naming it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from omnivec.encoders.base import Encoder
from omnivec.encoders.fake import FakeEncoder
from omnivec.encoders.registry import get_spec, list_families, load_encoder
from omnivec.types import Item
from tests.encoders import references as refs
from tests.encoders.contract import check_contract
from tests.encoders.inputs import draw_page, picture, shape_image

CODE = ["def add(a, b): return a + b", "SELECT name FROM users WHERE id = 1;", "print('hello world')\n" * 12]
TEXTS = ["alpha beta", "gamma", "delta epsilon zeta " * 20]


@dataclass
class Case:
    """A family's cheapest loaded model, distinct items it reads, and its reference computation."""

    encoder: Encoder
    items: list[Any]
    reference: refs.Reference
    options: dict[str, Any] = field(default_factory=dict)  # passed to encode (role, instruction)


def _fake(request: pytest.FixtureRequest, **load: Any) -> Case:
    enc = load_encoder("omnivec/fake")  # no device, nothing to load: `load` does not apply
    return Case(enc, TEXTS, refs.fake_reference(enc.dim))


def _bert(request: pytest.FixtureRequest, **load: Any) -> Case:
    path = request.getfixturevalue("tiny_bert")  # mean pooling, from its sentence-transformers files
    enc = load_encoder(str(path), **load)
    return Case(enc, CODE, refs.bert_reference(path, "mean", enc.spec.max_length))


def _decoder(request: pytest.FixtureRequest, **load: Any) -> Case:
    from tests.tiny.qwen2 import build_tiny_qwen2

    path = build_tiny_qwen2(request.getfixturevalue("tmp_path") / "qwen2", append_eos=True)
    return Case(
        load_encoder(str(path), recipe="BAAI/bge-code-v1", **load), CODE, refs.last_token_reference(path)
    )


def _mixed() -> list[Any]:
    return ["a red car", Item(image=picture(1)), Item(text="make it dark", image=picture(2, (80, 30)))]


def _clip(request: pytest.FixtureRequest, **load: Any) -> Case:
    from tests.tiny.clip import build_tiny_clip

    path = build_tiny_clip(request.getfixturevalue("tmp_path"))
    return Case(load_encoder(str(path), **load), _mixed(), refs.clip_reference(path))


def _llava_next(request: pytest.FixtureRequest, **load: Any) -> Case:
    from tests.tiny.llava import build_tiny_llava

    path, s1 = build_tiny_llava(request.getfixturevalue("tmp_path")), "BAAI/BGE-VL-MLLM-S1"
    reference = refs.llava_reference(refs.llava_stock(path), get_spec(s1), "document", None)
    return Case(
        load_encoder(str(path), recipe=s1, **load),
        [Item(text=x) if isinstance(x, str) else x for x in _mixed()],
        reference,
    )


def _qwen_vl(request: pytest.FixtureRequest, **load: Any) -> Case:
    from tests.tiny.qwen_vl import TINY_MAX_PIXELS, TINY_MIN_PIXELS, build_tiny_qwen_vl

    path = build_tiny_qwen_vl(request.getfixturevalue("tmp_path"))
    enc = load_encoder(str(path), min_pixels=TINY_MIN_PIXELS, max_pixels=TINY_MAX_PIXELS, **load)
    items = [
        Item(text="a red car"),
        Item(image=picture(1)),
        Item(text="make it dark", image=picture(2, (80, 30))),
    ]
    return Case(enc, items, refs.qwen_vl_reference(path, "document"))


def _efficientnet(request: pytest.FixtureRequest, **load: Any) -> Case:
    enc = load_encoder("omnivec/efficientnet-lite0-features", **load)
    items = [Item(image=shape_image("circle", "red")), Item(image=shape_image("square", "blue", 300))]
    return Case(enc, items, refs.efficientnet_features_reference(enc.spec.options))


def _conse(request: pytest.FixtureRequest, **load: Any) -> Case:
    enc = load_encoder(
        "omnivec/conse-efficientnet-lite0-minilm", text_encoder=request.getfixturevalue("minilm"), **load
    )
    items = [
        Item(image=shape_image("circle", "red")),
        "a picture of a dog",
        Item(image=shape_image("square", "green")),
    ]
    return Case(enc, items, refs.conse_reference(enc))


def _ocr(request: pytest.FixtureRequest, **load: Any) -> Case:
    if shutil.which("tesseract") is None:
        pytest.skip("apt-get install tesseract-ocr")
    cache = request.getfixturevalue("tmp_path") / "ocr.sqlite"
    enc = load_encoder(
        "omnivec/tesseract-minilm", ocr_cache=cache, text_encoder=request.getfixturevalue("minilm"), **load
    )
    pages = [
        draw_page(["Quarterly invoice for garden tools"])[0],
        draw_page(["Recipe for apple pie"], (600, 200))[0],
    ]
    items = [Item(image=pages[0]), "a text query", Item(image=pages[1])]
    return Case(enc, items, refs.ocr_reference(enc))


#: family -> its cheapest test model (load options such as `device` go to the families that take
#: them; see tests/gpu). Every registered family needs an entry.
CASES: dict[str, Callable[..., Case]] = {
    "fake": _fake,
    "bert": _bert,
    "decoder": _decoder,
    "clip": _clip,
    "llava_next": _llava_next,
    "qwen_vl": _qwen_vl,
    "efficientnet": _efficientnet,
    "conse": _conse,
    "ocr": _ocr,
}


def case_for(family: str, request: pytest.FixtureRequest, **load: Any) -> Case:
    if family not in CASES:
        pytest.fail(
            f"encoder family {family!r} is registered but has no test model: add one to CASES in "
            "tests/encoders/test_contract.py (a tiny random checkpoint and its reference computation)"
        )
    return CASES[family](request, **load)


@pytest.mark.parametrize("family", list_families())
def test_every_family_passes_the_contract(family: str, request: pytest.FixtureRequest) -> None:
    case = case_for(family, request)
    assert case.encoder.spec.family == family
    check_contract(case.encoder, case.items, reference=case.reference, **case.options)


def test_a_family_without_a_test_model_fails_naming_it(request: pytest.FixtureRequest) -> None:
    with pytest.raises(pytest.fail.Exception, match="'newfamily' is registered but has no test model"):
        case_for("newfamily", request)


class ConstantEncoder(FakeEncoder):
    """A broken encoder: the same vector whatever the input (batch-invariant, normalised)."""

    def forward(self, batch: Any) -> Any:
        return np.ones((len(batch), self.dim), dtype=np.float32)


class FirstWordEncoder(FakeEncoder):
    """A subtler break: reads only the first word, so distinct items still get distinct vectors."""

    def collate(self, prepared: Any, padding_side: Any) -> Any:
        return [p.data[:1] for p in prepared]


def test_a_constant_encoder_fails_the_contract() -> None:
    spec = get_spec("omnivec/fake")
    broken = ConstantEncoder(spec, fingerprint="constant")
    with pytest.raises(AssertionError, match="every item got the same vector"):
        check_contract(broken, TEXTS)
    with pytest.raises(AssertionError, match="vs reference"):
        check_contract(broken, TEXTS[:1], reference=refs.fake_reference(spec.dim))


def test_an_encoder_ignoring_part_of_its_input_fails_the_reference() -> None:
    spec = get_spec("omnivec/fake")
    broken = FirstWordEncoder(spec, fingerprint="first-word")
    check_contract(broken, TEXTS)  # batch-invariant and input-dependent: only the reference can tell
    with pytest.raises(AssertionError, match="vs reference"):
        check_contract(broken, TEXTS, reference=refs.fake_reference(spec.dim))
