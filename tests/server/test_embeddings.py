"""POST /v1/embeddings against a real server process: shapes, extensions, and every refusal."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from omnivec.encoders.registry import load_encoder
from omnivec.types import Item
from tests.server.conftest import data_url, error_of, png_bytes, start_server

MODEL = "omnivec/fake"


@pytest.fixture(scope="module")
def server(module_tmp):
    srv = start_server(
        ["--model", MODEL, "--max-body-mb", "1", "--max-inputs", "64", "--max-image-pixels", "10000"],
        module_tmp / "embeddings.log",
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def http(server):
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def fake():
    return load_encoder(MODEL)


def embed(http, **body):
    return http.post("/v1/embeddings", json={"model": MODEL, **body})


def vectors(resp) -> np.ndarray:
    assert resp.status_code == 200, resp.text
    return np.array([d["embedding"] for d in resp.json()["data"]], dtype=np.float32)


def test_string_and_list_match_the_library(http, fake):
    texts = ["def add(a, b): return a + b", "binary search"]
    r = embed(http, input=texts)
    body = r.json()
    assert body["object"] == "list" and body["model"] == MODEL
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and d["truncated"] is False for d in body["data"])
    np.testing.assert_allclose(vectors(r), fake.embed(texts).vectors, atol=1e-6)
    assert body["usage"] == {
        "prompt_tokens": fake.embed(texts).tokens,
        "total_tokens": fake.embed(texts).tokens,
    }
    one = vectors(embed(http, input=texts[0]))
    np.testing.assert_allclose(one[0], fake.embed(texts[:1]).vectors[0], atol=1e-6)


def test_base64_is_little_endian_float32(http):
    f = vectors(embed(http, input=["hello world"]))
    r = embed(http, input=["hello world"], encoding_format="base64")
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    np.testing.assert_array_equal(np.frombuffer(raw, dtype="<f4"), f[0])


def test_query_role_and_instruction(http, fake):
    text = ["sort a list"]
    q = vectors(embed(http, input=text, input_type="query", instruction="Find code: "))
    np.testing.assert_allclose(
        q, fake.embed(text, role="query", instruction="Find code: ").vectors, atol=1e-6
    )
    d = vectors(embed(http, input=text))
    assert not np.allclose(q, d)
    # a role suffix on the model id does the same, for clients that cannot send input_type
    r = http.post(
        "/v1/embeddings", json={"model": MODEL + ":query", "input": text, "instruction": "Find code: "}
    )
    np.testing.assert_allclose(vectors(r), q, atol=1e-6)


def test_truncation_is_reported_per_item(http):
    r = embed(http, input=["word " * 600, "short"])
    assert [d["truncated"] for d in r.json()["data"]] == [True, False]
    assert r.json()["usage"]["prompt_tokens"] == 512 + 1


def test_image_and_composed_items(http, fake):
    import io

    from PIL import Image

    png = png_bytes()
    img = Image.open(io.BytesIO(png)).convert("RGB")
    image_part = {"type": "image_url", "image_url": {"url": data_url(png)}}
    text_part = {"type": "text", "text": "in red"}
    r = embed(http, input=[image_part, [image_part, text_part], "in red"])
    got = vectors(r)
    want = fake.embed([Item(image=img), Item(text="in red", image=img), Item(text="in red")]).vectors
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert len(got) == 3 and not np.allclose(got[0], got[1])


def test_dimensions(http):
    assert len(vectors(embed(http, input="x", dimensions=32))[0]) == 32  # its own size: fine
    err = error_of(embed(http, input="x", dimensions=16))
    assert "Matryoshka" in err["message"] and "dimensions=16" in err["message"]


def test_user_is_accepted(http):
    assert embed(http, input="x", user="someone").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"input": []}, 400, ["empty list", "expected"]),
        ({"input": ""}, 400, ["empty text"]),
        ({"input": ["ok", "  "]}, 400, ["input #1", "empty text"]),
        ({"input": 5}, 400, ["input", "received 5"]),
        ({"input": [{"a": 1}]}, 400, ["part #0", "image_url"]),
        ({"input": [[1, 2, 3]]}, 400, ["no tokenizer"]),
        ({"input": "x", "model": "no/such-model"}, 404, ["no/such-model", "omnivec/fake"]),
        ({"input": "x", "encoding_format": "int8"}, 400, ["encoding_format", "int8"]),
        ({"input": "x", "model": None}, 400, ["model: received null"]),
        ({"input": "x", "input_typ": "query"}, 400, ["input_typ", "no such field"]),
        ({"input": "x", "instruction": "Find: "}, 400, ["instruction", "document"]),
        ({"input": "x", "input_type": "query", "task": "nope"}, 400, ["task preset 'nope'"]),
        ({"input": "x", "input_type": "query", "task": "a", "instruction": "b"}, 400, ["both"]),
        (
            {"input": [[{"type": "image_url", "image_url": {"url": "http://169.254.169.254/x.png"}}]]},
            400,
            ["remote image URL", "--allow-remote-images"],
        ),
        ({"input": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}, 400, ["'file'"]),
        (
            {"input": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]},
            400,
            ["not valid base64"],
        ),
        (
            {"input": [{"type": "image_url", "image_url": {"url": data_url(b"not an image")}}]},
            400,
            ["not a readable image"],
        ),
    ],
)
def test_refusals_say_what_was_received_and_expected(http, body, status, words):
    r = http.post("/v1/embeddings", json={"model": MODEL, **body})
    assert r.status_code == status, r.text
    err = error_of(r)
    for w in words:
        assert w in err["message"], err["message"]


def test_a_missing_field_is_named_without_echoing_the_body(http):
    r = http.post("/v1/embeddings", json={"input": "some text of the user's"})
    assert r.status_code == 400
    message = error_of(r)["message"]
    assert "model: missing; expected this required field" in message and "some text" not in message


def test_a_lone_surrogate_in_an_input_is_a_400(http):
    raw = b'{"model": "%s", "input": ["ok", "\\udc00x"]}' % MODEL.encode()
    r = http.post("/v1/embeddings", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert "lone UTF-16 surrogate in input.1" in error_of(r)["message"]


def test_malformed_json(http):
    r = http.post("/v1/embeddings", content=b'{"input": "x",', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "malformed JSON" in error_of(r)["message"]


def test_limits_are_413_with_the_limit(http):
    r = embed(http, input=["x"] * 65)
    assert r.status_code == 413 and "at most 64" in error_of(r)["message"]
    big = {"type": "image_url", "image_url": {"url": data_url(png_bytes((200, 200)))}}
    r = embed(http, input=[big])
    assert r.status_code == 413 and "at most 10000 pixels" in error_of(r)["message"]
    r = embed(http, input=["a" * (1024 * 1024 + 10)])
    assert r.status_code == 413 and str(1024 * 1024) in error_of(r)["message"]


def test_unknown_route_and_models(http):
    r = http.get("/v1/nothing")
    assert r.status_code == 404 and "openapi" in error_of(r)["message"]
    card = http.get("/v1/models").json()["data"][0]
    assert card["id"] == MODEL and card["object"] == "model" and card["dimensions"] == 32
    assert card["modalities"] == ["text", "code", "image"] and card["recipe"]["dim"] == 32
