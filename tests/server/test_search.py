"""/v1/search, /v1/items and /v1/documents against a real server over a real store."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.server.conftest import build_store, child_env, error_of, start_server


@pytest.fixture(scope="module")
def store(module_tmp):
    return build_store(module_tmp, images=True)


@pytest.fixture(scope="module")
def server(store, module_tmp):
    srv = start_server(["--store", str(store), "--writable"], module_tmp / "search.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def http(server):
    with server.client() as c:
        yield c


def item_url(item_id: str) -> str:
    """Ids hold '#' (and '/'): percent-encode them as any client must."""
    from urllib.parse import quote

    return "/v1/items/" + quote(item_id, safe="")


def cli_search(store, *args: str) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "omnivec", "search", *args, "--store", str(store), "--json"],
        capture_output=True, text=True, env=child_env(), timeout=120, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


@pytest.mark.parametrize(
    ("body", "cli"),
    [
        ({"text": "parse a config file", "k": 5}, ["parse a config file", "-k", "5"]),
        (
            {"text": "stack push item", "type": "code", "languages": ["python"], "mode": "dense"},
            ["stack push item", "--type", "code", "--lang", "python", "--mode", "dense"],
        ),
        (
            {"text": "installation", "path": "*.md", "mode": "keyword"},
            ["installation", "--path", "*.md", "--mode", "keyword"],
        ),
        (
            {"text": "stack", "group": True, "keyword_weight": 0.5},
            ["stack", "--group", "--keyword-weight", "0.5"],
        ),
    ],
)
def test_hits_equal_the_cli_json(http, store, body, cli):
    r = http.post("/v1/search", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["store"] == "store"
    hits = r.json()["hits"]
    assert hits, "the query should find something"
    assert hits == cli_search(store, *cli)
    engine = None if body.get("mode") == "dense" else "omnivec-bm25"  # dense runs no keyword side
    assert r.json()["keyword_engine"] == engine and {h["keyword_engine"] for h in hits} == {engine}


def test_image_query(http):
    from tests.server.conftest import data_url, png_bytes

    r = http.post("/v1/search", json={"image": data_url(png_bytes((64, 48), (220, 40, 40))), "type": "image"})
    assert r.status_code == 200, r.text
    assert {h["kind"] for h in r.json()["hits"]} == {"image"}
    assert r.json()["keyword_engine"] is None  # an image query has no words to look up


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"text": "x", "k": 0}, 400, ["k = 0", "1 to 1000"]),
        ({"text": "x", "k": "ten"}, 400, ["k", 'received "ten"', "integer"]),
        ({"text": "x", "type": "video"}, 400, ["type 'video'"]),
        ({"text": "x", "languages": ["klingon"]}, 400, ["klingon"]),
        ({"text": "x", "mode": "fuzzy"}, 400, ["mode 'fuzzy'"]),
        ({}, 400, ["empty query"]),
        ({"text": "x", "store": "other"}, 400, ["store 'other'", "one of store"]),
        ({"text": "x", "path": "src/[ab"}, 400, ["unclosed"]),
        ({"text": "x", "keyword_weight": 1e200}, 400, ["keyword weight 1e+200", "from 0 to 100"]),
        ({"text": "retry " * 20_000}, 400, ["query text of 120,000 characters", "at most 65,536"]),
    ],
)
def test_search_refusals(http, body, status, words):
    r = http.post("/v1/search", json=body)
    assert r.status_code == status, r.text
    for w in words:
        assert w in error_of(r)["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"k": 0}, "k"),
        ({"type": "video"}, "type"),
        ({"mode": "fuzzy"}, "mode"),
        ({"languages": ["klingon"]}, "languages"),
    ],
)
def test_refusals_name_the_field_not_a_command_line_flag(http, body, param):
    err = error_of(http.post("/v1/search", json={"text": "x", **body}))
    assert err["param"] == param
    assert " --" not in err["message"] and " -k" not in err["message"], err["message"]


@pytest.mark.parametrize(
    ("path", "raw", "where"),
    [
        ("/v1/search", b'{"text": "a \\ud800 b"}', "in text"),
        (
            "/v1/documents",
            b'{"upsert": [{"id": "s", "text": "lone \\udfff"}]}',
            "upsert.0: a lone UTF-16 surrogate in text",
        ),
        ("/v1/documents", b'{"delete": ["\\ud800"]}', "in delete.0"),
    ],
)
def test_a_lone_surrogate_is_a_400_naming_its_field(http, path, raw, where):
    r = http.post(path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    message = error_of(r)["message"]
    assert "lone UTF-16 surrogate" in message and where in message, message


def test_a_body_without_a_json_content_type_says_to_send_one(http):
    r = http.post("/v1/search", content=b'{"text": "x"}', headers={"content-type": "text/plain"})
    assert r.status_code == 400
    assert "content-type: application/json" in error_of(r)["message"]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "10.0.0.1"])
def test_without_a_key_only_loopback_host_names_are_answered(server, host):
    """DNS rebinding: a page whose host name resolves to 127.0.0.1 must not read or write the index."""
    for method, path, body in (("POST", "/v1/search", {"text": "stack"}), ("GET", "/healthz", None),
                               ("POST", "/v1/documents", {"upsert": [{"id": "rebind", "text": "x"}]})):  # fmt: skip
        r = httpx.request(method, server.url + path, json=body, headers={"Host": host})
        assert r.status_code == 421, (path, r.text)
        assert error_of(r)["code"] == "untrusted_host"
    port = server.url.rsplit(":", 1)[1]
    for ok in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        assert (
            httpx.post(server.url + "/v1/search", json={"text": "stack"}, headers={"Host": ok}).status_code
            == 200
        )


def test_item_record_and_thumbnail(http):
    hit = http.post("/v1/search", json={"text": "blue", "type": "image", "k": 1}).json()["hits"][0]
    rec = http.get(item_url(hit["id"]))
    assert rec.status_code == 200, rec.text
    body = rec.json()
    assert body["id"] == hit["id"] and body["fields"]["path"] == hit["path"] and body["collection"] == "image"
    thumb = http.get(item_url(hit["id"]), params={"image": "thumbnail"})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    assert thumb.content[:4] == b"RIFF" and json.loads(thumb.headers["x-omnivec-regions"]) == []
    # the original image lives in the indexed folder, not in the store's assets: not served
    assert http.get(item_url(hit["id"]), params={"image": "page"}).status_code == 403


def test_page_image_of_a_scanned_pdf(http):
    hits = http.post("/v1/search", json={"text": "scan", "type": "screenshot", "k": 5}).json()["hits"]
    page = next(h for h in hits if h["path"] == "scan.pdf" and h["kind"] == "screenshot")
    r = http.get(item_url(page["id"]), params={"image": "page"})
    assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/items/../../etc/passwd",
        "/v1/items/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/v1/items/..%2F..%2Findex.json",
        "/v1/items//etc/passwd",
        "/v1/items/%2Fetc%2Fpasswd?image=page",
        "/v1/items/pkg%2Fstack.py",
        "/v1/items/..%5C..%5Cwindows",
    ],
)
def test_items_are_served_by_id_only(server, path):
    import httpx

    # raw request: no client-side normalisation of the dot segments
    with httpx.Client(base_url=server.url) as c:
        r = c.send(c.build_request("GET", httpx.URL(server.url + path)))
    assert r.status_code == 404, r.text
    assert "root:" not in r.text


def test_a_symlink_in_assets_pointing_outside_is_refused(http, store, module_tmp):
    hit = http.post("/v1/search", json={"text": "red", "type": "image", "k": 2}).json()["hits"]
    rec = http.get(item_url(hit[-1]["id"])).json()
    thumb = store / "assets" / "thumbs" / rec["fields"]["thumbnail"].rsplit("/", 1)[-1]
    secret = module_tmp / "secret.webp"
    secret.write_bytes(b"RIFF-secret")
    thumb.unlink()
    thumb.symlink_to(secret)
    r = http.get(item_url(hit[-1]["id"]), params={"image": "thumbnail"})
    assert r.status_code == 403 and b"secret" not in r.content
    assert "outside the store's assets" in error_of(r)["message"]


def test_documents_upsert_search_delete(http):
    doc = {"id": "kb/42", "text": "The zebra crossing rules for cyclists", "metadata": {"lang": "en"}}
    r = http.post("/v1/documents", json={"upsert": [doc]})
    assert r.status_code == 200, r.text
    assert r.json()["upserted"] == ["kb/42"] and r.json()["chunks"] == 1
    hits = http.post("/v1/search", json={"text": "zebra crossing cyclists", "k": 3}).json()["hits"]
    assert hits[0]["path"] == "doc:kb/42" and hits[0]["metadata"] == {"lang": "en"}
    assert http.get(item_url(hits[0]["id"])).json()["text"].endswith("cyclists")
    again = http.post("/v1/documents", json={"upsert": [doc]}).json()
    assert again["unchanged"] == ["kb/42"]
    doc["text"] = "Parking rules for lorries"
    assert http.post("/v1/documents", json={"upsert": [doc]}).json()["upserted"] == ["kb/42"]
    hits = http.post(
        "/v1/search", json={"text": "zebra crossing cyclists", "k": 20, "mode": "keyword"}
    ).json()
    assert all(h["path"] != "doc:kb/42" for h in hits["hits"])
    r = http.post("/v1/documents", json={"delete": ["kb/42", "never-added"]}).json()
    assert r["deleted"] == ["kb/42"] and r["not_found"] == ["never-added"]
    hits = http.post("/v1/search", json={"text": "parking lorries", "k": 20}).json()["hits"]
    assert all(h["path"] != "doc:kb/42" for h in hits)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, ["nothing in upsert or delete"]),
        ({"upsert": [{"id": "", "text": "x"}]}, ["id ''"]),
        ({"upsert": [{"id": "a", "text": " "}]}, ["empty text"]),
        ({"upsert": [{"id": "a", "text": "x"}], "delete": ["a"]}, ["both upsert and delete"]),
        ({"upsert": [{"id": "a"}]}, ["upsert.0.text", "required"]),
    ],
)
def test_documents_refusals(http, body, words):
    r = http.post("/v1/documents", json=body)
    assert r.status_code == 400, r.text
    for w in words:
        assert w in error_of(r)["message"]
