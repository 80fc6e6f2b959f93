"""EfficientNet-Lite0 families with the real bundled weights: ConSE in MiniLM's space, features."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from omnivec.encoders.conse import ConseEncoder, EfficientNetFeatures, imagenet_lemmas
from omnivec.encoders.registry import get_spec, load_encoder
from omnivec.errors import InputError
from omnivec.types import Item
from tests.encoders.contract import check_contract
from tests.encoders.inputs import shape_image

CONSE = "omnivec/conse-efficientnet-lite0-minilm"
FEATURES = "omnivec/efficientnet-lite0-features"
# emoji the classifier knows (checked with benchmarks/image_text_emoji.py): name -> image file
EMOJI = {"penguin": "e0601", "pretzel": "e0720", "umbrella": "e1020", "guitar": "e1183"}


@pytest.fixture(scope="module")
def conse(minilm) -> ConseEncoder:
    enc = load_encoder(CONSE, text_encoder=minilm)
    assert isinstance(enc, ConseEncoder)
    return enc


@pytest.fixture(scope="module")
def features() -> EfficientNetFeatures:
    enc = load_encoder(FEATURES)
    assert isinstance(enc, EfficientNetFeatures)
    return enc


@pytest.fixture(scope="module")
def emoji():
    from omnivec.evaluate.devsets import evalsets_dir

    root = evalsets_dir() / "image-text-emoji" / "images"
    if not root.is_dir():
        pytest.skip("image-text-emoji is not present")
    return {name: root / f"{stem}.png" for name, stem in EMOJI.items()}


def test_class_names_are_imagenet_order():
    rows = imagenet_lemmas()
    assert len(rows) == 1000 and len({s for s, _ in rows}) == 1000
    assert rows[0] == ("n01440764", ("tench", "Tinca tinca"))
    assert rows[285][1][0] == "Egyptian cat"


def test_images_and_text_share_minilm_space(conse, minilm):
    vecs = conse.encode([Item(image=shape_image("circle", "red")), "a red ball"], role="query")
    assert vecs.shape == (2, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    # the text side is the text encoder, unchanged
    np.testing.assert_allclose(vecs[1], minilm.encode(["a red ball"], role="query")[0], atol=1e-5)
    # the image side is a mix of class-name embeddings
    assert (conse.classes @ vecs[0]).max() > 0.5


def test_names_find_their_emoji(conse, emoji):
    names = list(emoji)
    images = conse.encode([Item(image=p) for p in emoji.values()])
    queries = conse.encode(names, role="query")
    assert list((queries @ images.T).argmax(1)) == list(range(len(names)))  # text -> image
    assert list((images @ queries.T).argmax(1)) == list(range(len(names)))  # image -> text


@pytest.mark.parametrize("top_k", [1, 3])
def test_top_k_is_respected(conse, minilm, top_k):
    spec = get_spec(CONSE)
    enc = ConseEncoder.load(
        replace(spec, options={**spec.options, "top_k": top_k}), CONSE, text_encoder=minilm
    )
    img = Item(image=shape_image("square", "blue"))
    vec = enc.encode([img])[0]
    logits = enc.logits(enc.collate(enc.preprocess([img], "document", None), "right")["images"]).numpy()[0]
    top = np.argsort(-logits)[:top_k]
    # the vector lies in the span of exactly the top-k class embeddings
    basis = enc.classes[top].T
    coef, *_ = np.linalg.lstsq(basis, vec, rcond=None)
    np.testing.assert_allclose(basis @ coef, vec, atol=1e-4)
    assert (coef > 0).all()
    if top_k == 1:
        assert enc.classes[top[0]] @ vec == pytest.approx(1.0, abs=1e-5)


def test_conse_contract(conse):
    items = [
        Item(image=shape_image("circle", "red")),
        "a picture of a dog",
        Item(image=shape_image("square", "green")),
    ]
    check_contract(conse, items)


def test_conse_refuses_composed_items(conse):
    with pytest.raises(InputError, match="both text and an image"):
        conse.encode([Item(text="a cat", image=shape_image("circle", "red"))])


def test_class_embeddings_are_cached(conse, minilm):
    from omnivec.config import cache_dir

    files = list((cache_dir() / "conse").glob("classes-*.npy"))
    assert files
    again = load_encoder(CONSE, text_encoder=minilm)
    np.testing.assert_array_equal(again.classes, conse.classes)


def test_features_are_1280d_and_deterministic(features, tmp_path):
    red = shape_image("circle", "red")
    red.save(tmp_path / "red.png")
    vecs = features.encode(
        [Item(image=tmp_path / "red.png"), Item(image=red.copy()), Item(image=shape_image("square", "blue"))]
    )
    assert vecs.shape == (3, 1280)
    np.testing.assert_array_equal(vecs[0], vecs[1])
    assert vecs[0] @ vecs[2] < 0.99
    check_contract(features, [Item(image=red), Item(image=shape_image("square", "blue", 300))])


def test_features_refuse_text(features):
    with pytest.raises(InputError, match="images only"):
        features.encode(["a red circle"])


def test_text_space_never_loads_the_classifier(minilm, monkeypatch):
    from efficientnet_lite_pytorch import EfficientNet

    from omnivec.encoders._hf import weights_fingerprint
    from omnivec.encoders.conse import efficientnet_weights

    built = []
    real = EfficientNet.from_pretrained.__func__

    def counting(cls, *args, **kw):
        built.append(kw.get("weights_path"))
        return real(cls, *args, **kw)

    monkeypatch.setattr(EfficientNet, "from_pretrained", classmethod(counting))
    enc = load_encoder(CONSE, text_encoder=minilm)
    # the fingerprint comes from the weights file, without building the network
    expected = f"{weights_fingerprint(efficientnet_weights().parent)}+{minilm.fingerprint}"
    assert enc.fingerprint.startswith(expected + ":")
    fingerprint = enc.fingerprint
    np.testing.assert_allclose(
        enc.text_space.encode(["a red ball"], role="query"), enc.encode(["a red ball"], role="query")
    )
    assert built == [] and not enc.net.loaded
    enc.encode([Item(image=shape_image("circle", "red"))])
    assert len(built) == 1 and enc.net.loaded
    assert enc.fingerprint == fingerprint
    enc.encode([Item(image=shape_image("square", "blue"))])
    assert len(built) == 1  # built once
