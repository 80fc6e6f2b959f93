"""Binding, keys, CORS, read-only stores, and the operational endpoints of a real server."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.server.conftest import build_store, child_env, error_of, start_server

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def store(module_tmp):
    return build_store(module_tmp)


@pytest.fixture(scope="module")
def server(store, module_tmp):
    # the key comes from the environment, as an operator would set it
    srv = start_server(
        ["--store", str(store), "--cors-origin", "http://app.example"],
        module_tmp / "security.log", env=child_env(OMNIVEC_API_KEY=KEY), key=KEY,
    )  # fmt: skip
    yield srv
    srv.stop()


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_non_loopback_bind_without_a_key_is_refused(host):
    out = subprocess.run(
        [sys.executable, "-m", "omnivec", "serve", "--host", host, "--port", "0", "--model", "omnivec/fake"],
        capture_output=True, text=True, env=child_env(), timeout=120,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert f"--host {host}" in out.stderr and "API key" in out.stderr and "--api-key" in out.stderr
    assert "serving" not in out.stdout


@pytest.mark.parametrize("key", [" ", " padded-key", "clé-ü"])
def test_a_key_no_header_can_carry_is_refused_at_start(key):
    out = subprocess.run(
        [sys.executable, "-m", "omnivec", "serve", "--port", "0", "--model", "omnivec/fake", "--api-key", key],
        capture_output=True, text=True, env=child_env(), timeout=120,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "printable ASCII" in out.stderr and "secrets.token_urlsafe" in out.stderr


def test_with_a_key_any_host_name_is_answered(server):
    r = httpx.post(
        server.url + "/v1/search", headers={**auth(), "Host": "search.internal"}, json={"text": "x"}
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": "Bearer s3cret-ke"}],
)
def test_401_without_the_key(server, headers):
    for method, path in (("GET", "/v1/models"), ("POST", "/v1/search"), ("GET", "/metrics")):
        r = httpx.request(method, server.url + path, headers=headers, json={"text": "x"})
        assert r.status_code == 401, (path, r.text)
        err = error_of(r)
        assert err["code"] == "invalid_api_key" and "Authorization: Bearer" in err["message"]


def test_the_key_opens_everything(server):
    assert httpx.get(server.url + "/healthz").status_code == 200  # liveness needs no key
    assert httpx.get(server.url + "/v1/models", headers=auth()).status_code == 200
    assert httpx.get(server.url + "/v1/models", headers={"X-API-Key": KEY}).status_code == 200
    r = httpx.post(server.url + "/v1/search", headers=auth(), json={"text": "stack", "k": 2})
    assert r.status_code == 200 and r.json()["hits"]


def test_cors_only_for_the_configured_origin(server, store, module_tmp):
    pre = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
    r = httpx.options(server.url + "/v1/search", headers=pre)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://app.example"
    r = httpx.options(server.url + "/v1/search", headers={**pre, "Origin": "http://evil.example"})
    assert r.headers.get("access-control-allow-origin") != "http://evil.example"
    plain = start_server(["--store", str(store)], module_tmp / "plain.log")
    try:
        r = httpx.post(
            plain.url + "/v1/search", json={"text": "stack"}, headers={"Origin": "http://app.example"}
        )
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        # a store opened read-only refuses document writes and says how to allow them
        r = httpx.post(plain.url + "/v1/documents", json={"upsert": [{"id": "a", "text": "b"}]})
        assert r.status_code == 403 and "--writable" in error_of(r)["message"]
    finally:
        plain.stop()


def test_openapi_healthz_and_metrics(server):
    spec = httpx.get(server.url + "/openapi.json", headers=auth()).json()
    assert {"/v1/embeddings", "/v1/search", "/v1/models", "/v1/documents", "/healthz", "/metrics"} <= set(
        spec["paths"]
    )
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}  # without the key: liveness only
    for page in ("/docs", "/redoc"):  # they would load scripts from a CDN: not served
        assert httpx.get(server.url + page, headers=auth()).status_code == 404
    health = httpx.get(server.url + "/healthz", headers=auth()).json()
    assert health["status"] == "ok" and health["stores"][0]["name"] == "store"
    assert health["stores"][0]["writable"] is False
    httpx.post(server.url + "/v1/embeddings", headers=auth(), json={"model": "omnivec/fake", "input": "x"})
    text = httpx.get(server.url + "/metrics", headers=auth()).text
    assert 'omnivec_requests_total{method="POST",route="/v1/embeddings",status="200"}' in text
    assert 'omnivec_requests_total{method="GET",route="unmatched",status="401"}' in text
    assert "omnivec_request_seconds_bucket" in text
    assert 'omnivec_embed_batch_items_count{model="omnivec/fake"}' in text
    assert 'omnivec_embed_queue_items{model="omnivec/fake"} 0.0' in text
