"""Dynamic batching: concurrent requests share forward passes; vectors equal unbatched ones."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from omnivec.encoders.registry import load_encoder
from omnivec.server.batcher import Batcher
from tests.server.conftest import start_server

N = 12


class CountingEncoder:
    """Wraps an encoder and counts calls of its batching loop."""

    def __init__(self, enc):
        self.enc, self.calls, self.sizes = enc, 0, []
        self._lock = threading.Lock()

    def run(self, items):
        with self._lock:
            self.calls += 1
            self.sizes.append(len(items))
        return self.enc.embed(items, role="document")


def requests() -> list[list[str]]:
    return [[f"request {i} item {j} " + "word " * (i % 5) for j in range(1 + i % 3)] for i in range(N)]


def test_concurrent_requests_share_forward_passes():
    enc = load_encoder("omnivec/fake")
    counting = CountingEncoder(enc)
    batcher = Batcher(counting.run, max_tokens=1_000_000, max_wait_s=0.5)
    barrier = threading.Barrier(N)

    def one(texts):
        barrier.wait()
        return batcher.submit(enc_items(texts)).result(timeout=30)

    try:
        with ThreadPoolExecutor(N) as pool:
            parts = list(pool.map(one, requests()))
    finally:
        batcher.close()
    assert counting.calls < N  # shared: one or two passes for twelve requests
    assert sum(counting.sizes) == sum(len(r) for r in requests())
    for texts, part in zip(requests(), parts):
        want = enc.embed(texts)
        np.testing.assert_array_equal(part.vectors, want.vectors)
        assert part.tokens == want.tokens and part.truncated == []


def test_budget_splits_batches_and_keeps_order():
    enc = load_encoder("omnivec/fake")
    counting = CountingEncoder(enc)
    batcher = Batcher(counting.run, max_tokens=10, max_wait_s=0.2)
    try:
        futs = [batcher.submit(enc_items([f"text number {i}"])) for i in range(6)]
        parts = [f.result(timeout=30) for f in futs]
    finally:
        batcher.close()
    assert counting.calls >= 2 and max(counting.sizes) <= 2  # ~5 estimated tokens each, budget 10
    for i, part in enumerate(parts):
        np.testing.assert_array_equal(part.vectors, enc.embed([f"text number {i}"]).vectors)


def test_a_failing_request_fails_alone():
    enc = load_encoder("omnivec/fake")

    def run(items):
        if any(it.text == "boom" for it in items):
            raise ValueError("boom")
        return enc.embed(items)

    batcher = Batcher(run, max_tokens=1_000_000, max_wait_s=0.3)
    try:
        good, bad = batcher.submit(enc_items(["fine"])), batcher.submit(enc_items(["boom"]))
        assert good.result(timeout=30).vectors.shape == (1, 32)
        with pytest.raises(ValueError):
            bad.result(timeout=30)
    finally:
        batcher.close()


def enc_items(texts):
    from omnivec.types import as_items

    return as_items(texts)


@pytest.fixture(scope="module")
def server(module_tmp):
    srv = start_server(["--model", "omnivec/fake", "--batch-wait-ms", "400"], module_tmp / "batching.log")
    yield srv
    srv.stop()


def test_the_server_batches_concurrent_requests(server):
    enc = load_encoder("omnivec/fake")
    barrier = threading.Barrier(N)

    def one(texts):
        barrier.wait()
        r = httpx.post(
            server.url + "/v1/embeddings", json={"model": "omnivec/fake", "input": texts}, timeout=60
        )
        assert r.status_code == 200, r.text
        return np.array([d["embedding"] for d in r.json()["data"]], dtype=np.float32)

    with ThreadPoolExecutor(N) as pool:
        got = list(pool.map(one, requests()))
    for texts, vecs in zip(requests(), got):
        np.testing.assert_allclose(vecs, enc.embed(texts).vectors, atol=1e-6)
    metrics = httpx.get(server.url + "/metrics").text
    passes = float(
        re.search(r'omnivec_embed_batch_items_count\{model="omnivec/fake"\} (\S+)', metrics).group(1)
    )
    served = float(
        re.search(r'omnivec_embed_batch_requests_sum\{model="omnivec/fake"\} (\S+)', metrics).group(1)
    )
    assert served == N and passes < N
