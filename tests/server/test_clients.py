"""Client libraries pointed at a real server, unchanged: openai, LangChain, LlamaIndex (offline)."""

from __future__ import annotations

import numpy as np
import pytest

from omnivec.encoders.registry import load_encoder
from tests.server.conftest import data_url, error_of, png_bytes, start_server

FAKE = "omnivec/fake"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = ["def add(a, b): return a + b", "read a config file", "binary search in a sorted list"]


@pytest.fixture(scope="module")
def server(module_tmp):
    srv = start_server(["--model", FAKE, "--model", MINILM, "--threads", "1"], module_tmp / "clients.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def fake():
    return load_encoder(FAKE)


def test_openai_client_float_and_base64(server, fake):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    default = client.embeddings.create(model=FAKE, input=TEXTS)  # the client asks for base64 itself
    floats = client.embeddings.create(model=FAKE, input=TEXTS, encoding_format="float")
    want = fake.embed(TEXTS).vectors
    for resp in (default, floats):
        got = np.array([d.embedding for d in resp.data], dtype=np.float32)
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert resp.usage.prompt_tokens == fake.embed(TEXTS).tokens
    q = client.embeddings.create(
        model=FAKE, input=["x"], extra_body={"input_type": "query", "instruction": "Q: "}
    )
    np.testing.assert_allclose(
        q.data[0].embedding, fake.embed(["x"], role="query", instruction="Q: ").vectors[0], atol=1e-6
    )
    with pytest.raises(openai.NotFoundError) as exc:
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert "does not serve" in str(exc.value)


def test_langchain_openai_embeddings(server, fake):
    lc = pytest.importorskip("langchain_openai")
    docs = lc.OpenAIEmbeddings(
        base_url=server.url + "/v1",
        api_key="unused",
        model=FAKE,
        check_embedding_ctx_length=False,
        tiktoken_enabled=False,
    )
    np.testing.assert_allclose(docs.embed_documents(TEXTS), fake.embed(TEXTS).vectors, atol=1e-6)
    queries = lc.OpenAIEmbeddings(
        base_url=server.url + "/v1",
        api_key="unused",
        model=FAKE + ":query",
        check_embedding_ctx_length=False,
        tiktoken_enabled=False,
    )
    np.testing.assert_allclose(
        queries.embed_query("x"), fake.embed(["x"], role="query").vectors[0], atol=1e-6
    )


def test_llamaindex_openai_embedding(server, fake):
    li = pytest.importorskip("llama_index.embeddings.openai")
    emb = li.OpenAIEmbedding(api_base=server.url + "/v1", api_key="unused", model_name=FAKE, max_retries=0)
    np.testing.assert_allclose(emb.get_text_embedding_batch(TEXTS), fake.embed(TEXTS).vectors, atol=1e-6)
    np.testing.assert_allclose(emb.get_query_embedding("x"), fake.embed(["x"]).vectors[0], atol=1e-6)


def test_token_arrays_decode_with_the_models_tokenizer(server, minilm):
    import httpx

    ids = minilm.tokenizer("parse a config file", add_special_tokens=False)["input_ids"]
    r = httpx.post(server.url + "/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": [ids, ids]},
                   timeout=60)  # fmt: skip
    assert r.status_code == 200, r.text
    got = np.array([d["embedding"] for d in r.json()["data"]], dtype=np.float32)
    np.testing.assert_allclose(got[0], minilm.encode(["parse a config file"])[0], atol=1e-5)
    r = httpx.post(server.url + "/v1/embeddings", json={"model": MINILM, "input": [10**9]}, timeout=60)
    assert r.status_code == 400 and "outside the vocabulary" in error_of(r)["message"]


def test_image_for_a_text_only_model(server):
    import httpx

    part = {"type": "image_url", "image_url": {"url": data_url(png_bytes())}}
    r = httpx.post(server.url + "/v1/embeddings", json={"model": MINILM, "input": [part]}, timeout=60)
    assert r.status_code == 400
    msg = error_of(r)["message"]
    assert "image item" in msg and "reads only text" in msg


def test_shared_passes_give_the_in_process_vectors(server, minilm):
    """On a CPU the server runs forward passes of at most 2048 padded tokens (the encoder's own
    default is 8192): the grouping changes, the vectors do not."""
    import httpx

    from omnivec.server.models import CPU_FORWARD_TOKENS, forward_tokens

    assert forward_tokens(minilm, None) == CPU_FORWARD_TOKENS < minilm.batch_tokens
    assert forward_tokens(minilm, 512) == 512
    texts = [" ".join(f"word{j}" for j in range(1 + (i * 37) % 300)) for i in range(48)]
    r = httpx.post(server.url + "/v1/embeddings", json={"model": MINILM, "input": texts}, timeout=120)
    assert r.status_code == 200, r.text
    got = np.array([d["embedding"] for d in r.json()["data"]], dtype=np.float32)
    np.testing.assert_allclose(got, minilm.encode(texts), atol=1e-5)
