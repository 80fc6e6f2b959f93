"""Parity with sentence-transformers, which loads the BGE-VL family without model-specific code.

Each case loads the same tiny random checkpoint in both and compares `encode_query` /
`encode_document` with omnivec's vectors to 1e-5. Where they differ by design the test says which
one follows the model's own recipe (`../shared/spec/models.md`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omnivec.encoders.registry import load_encoder
from omnivec.types import Item
from tests.encoders.inputs import picture

st = pytest.importorskip("sentence_transformers")
ATOL = 1e-5
PROMPTS = {"query": "Find the screenshot that answers this.", "document": "A screenshot."}


def _st_input(item: Item) -> Any:
    """The same item as sentence-transformers takes it: a string, or a dict in [text, image] order."""
    if item.image is None:
        return item.text
    return {"text": item.text, "image": item.image} if item.text else {"image": item.image}


def _items() -> list[Item]:
    return [
        Item(text="quarterly revenue table"),
        Item(image=picture(1, (90, 60))),
        Item(text="the chart on page two", image=picture(2, (40, 120))),
        Item(image=picture(3, (336, 252))),
    ]


def _no_video_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    """`AutoProcessor` builds Qwen2.5-VL's processor with its video half, which needs torchvision (not
    importable beside this torch). sentence-transformers gets the same processor without it: the
    checkpoint's tokenizer, image processor and chat template; its own code does everything else."""
    import sentence_transformers.base.modules.transformer as st_transformer
    from transformers import AutoImageProcessor, AutoTokenizer, Qwen2_5_VLProcessor
    from transformers.processing_utils import ProcessorMixin

    class ImageOnlyProcessor(Qwen2_5_VLProcessor):  # type: ignore[misc]
        def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None):
            self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    class Auto:
        @staticmethod
        def from_pretrained(path: str, **kw: Any) -> Any:
            tok = AutoTokenizer.from_pretrained(path, **kw)
            images = AutoImageProcessor.from_pretrained(path)
            return ImageOnlyProcessor(
                images, tok, chat_template=(Path(path) / "chat_template.jinja").read_text()
            )

    monkeypatch.setattr(st_transformer, "AutoProcessor", Auto)


@pytest.mark.parametrize("custom", [True, False], ids=["custom-checkpoint", "stock-qwen-template"])
def test_qwen_vl_matches_sentence_transformers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, custom: bool
) -> None:
    from tests.tiny.qwen_vl import (
        CHAT_TEMPLATE,
        CUSTOM_CHAT_TEMPLATE,
        build_tiny_qwen_vl,
        sentence_transformers_files,
    )

    path = build_tiny_qwen_vl(
        tmp_path / "qwen-vl",
        chat_template=CUSTOM_CHAT_TEMPLATE if custom else CHAT_TEMPLATE,
        min_pixels=6 * 28 * 28 if custom else 4 * 28 * 28,
        max_pixels=12 * 28 * 28 if custom else 16 * 28 * 28,
        extra_files=sentence_transformers_files(PROMPTS if custom else {}),
    )
    _no_video_processor(monkeypatch)
    model = st.SentenceTransformer(str(path), device="cpu")
    enc = load_encoder(str(path))
    items = _items()
    inputs = [_st_input(x) for x in items]
    ours_q, ours_d = enc.encode(items, role="query"), enc.encode(items, role="document")
    theirs_q = model.encode_query(inputs, convert_to_numpy=True)
    theirs_d = model.encode_document(inputs, convert_to_numpy=True)
    np.testing.assert_allclose(ours_q, theirs_q, atol=ATOL)
    np.testing.assert_allclose(ours_d, theirs_d, atol=ATOL)
    # an explicit instruction is sentence-transformers' `prompt=`: the system turn either way
    own = "Represent the given image with the given query."
    np.testing.assert_allclose(
        enc.encode(items, role="query", instruction=own),
        model.encode_query(inputs, prompt=own, convert_to_numpy=True),
        atol=ATOL,
    )


def test_clip_matches_sentence_transformers_where_it_can(tmp_path: Path) -> None:
    """Text and image match; a composed query (image + modification text) is BGE-VL's sum of the two
    unnormalised projections, which sentence-transformers does not do (it refuses the pair)."""
    from tests.tiny.clip import build_tiny_clip

    path = build_tiny_clip(tmp_path / "clip")
    model = st.SentenceTransformer(str(path), device="cpu")
    enc = load_encoder(str(path))
    items = [
        Item(text="a red car"),
        Item(text="the " * 100),
        Item(image=picture(1)),
        Item(image=picture(2, (80, 30))),
    ]
    # one modality per call: sentence-transformers does not mix text and images in a batch
    texts = model.encode_document([x.text for x in items[:2]], convert_to_numpy=True)
    images = model.encode_document([_st_input(x) for x in items[2:]], convert_to_numpy=True)
    theirs = np.concatenate([texts, images])
    theirs = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)  # no Normalize module in a bare folder
    np.testing.assert_allclose(enc.encode(items), theirs, atol=ATOL)
    with pytest.raises(ValueError, match="cannot combine them"):
        model.encode_query([{"text": "make it dark", "image": picture(1)}])


# BGE-VL MLLM's prompt (models.md section 3) as a chat template: the system turn is the instruction,
# the task (which sentence-transformers passes to templates that use it) picks the role prefix
BGE_VL_MLLM_TEMPLATE = (
    "{% set sys = messages[0]['content'][0]['text'] if messages[0]['role'] == 'system' else none %}"
    "{% if task == 'query' %}{% if sys %}[INST] \n <instruct> {{ sys }} <query> "
    "{% else %}[INST] \n <instruct>  <query>{% endif %}{% else %}[INST] {% endif %}"
    "{% for part in messages[-1]['content'] %}{% if part['type'] == 'text' %} {{ part['text'] }} \n"
    "{% endif %}{% endfor %}"
    "{% for part in messages[-1]['content'] %}{% if part['type'] == 'image' %} <image>{% endif %}{% endfor %}"
    " [/INST]"
)


def test_llava_next_matches_sentence_transformers_given_the_recipe(tmp_path: Path) -> None:
    """A bare LLaVA-NeXT folder in sentence-transformers is mean pooling over unprompted text (and
    it cannot embed an image alone). Given BGE-VL's prompt as a chat template, last-token pooling,
    normalisation and images already resized to 512x512, the two agree; without that resize they do
    not, and the resize is BGE-VL's recipe (MegaPairs resizes every image before processing)."""
    from omnivec.encoders.llava_next import TEXT_TO_IMAGE, load_square
    from tests.tiny.llava import build_tiny_llava
    from tests.tiny.qwen_vl import sentence_transformers_files

    path = build_tiny_llava(tmp_path / "llava")
    files = sentence_transformers_files({}, add_generation_prompt=False)
    files["chat_template.jinja"] = BGE_VL_MLLM_TEMPLATE
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    model = st.SentenceTransformer(str(path), device="cpu")
    enc = load_encoder(str(path), recipe="BAAI/BGE-VL-MLLM-S1")
    items = [
        Item(text="a red car"),
        Item(image=picture(1)),
        Item(text="make it dark", image=picture(2, (80, 30))),
    ]

    def resized(item: Item) -> Any:
        square = load_square(item.image, (512, 512)) if item.image is not None else None
        return _st_input(Item(text=item.text, image=square))

    # one item per call: only the recipe is compared here (omnivec's batching has its own contract)
    def theirs(encode: Any, transform: Any, **kw: Any) -> np.ndarray:
        return np.stack([encode([transform(x)], convert_to_numpy=True, **kw)[0] for x in items])

    for role, encode, kw in (
        ("document", model.encode_document, {}),
        ("query", model.encode_query, {}),
        ("query", model.encode_query, {"prompt": TEXT_TO_IMAGE}),
    ):
        ours = enc.encode(items, role=role, instruction=kw.get("prompt"))
        np.testing.assert_allclose(ours, theirs(encode, resized, **kw), atol=ATOL)
        unresized = theirs(encode, _st_input, **kw)
        assert np.abs(ours[1:] - unresized[1:]).max() > 1e-3  # images: the resize is the recipe's
