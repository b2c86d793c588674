"""The codec server over real HTTP: token required, CORS for the UI origin only, size limit, quiet log."""

from __future__ import annotations

import base64
import logging

import httpx
import pytest

from mlwright.settings import Settings
from tests.codec_helpers import codec_server
from tests.helpers import free_port

ORIGIN = "http://localhost:18233"
PLAIN = {"payloads": [{"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                       "data": base64.b64encode(b'{"patient_id": "P-777"}').decode()}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = Settings(environment="test", home=tmp_path_factory.mktemp("codec"), codec_port=free_port(),
                        codec_allowed_origin=ORIGIN, codec_max_body_bytes=4096)  # the session payload key
    with codec_server(settings) as running:
        yield running


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_encode_then_decode_with_the_token(server):
    sealed = httpx.post(f"{server.url}/encode", json=PLAIN, headers=bearer(server.token))
    assert sealed.status_code == 200 and "P-777" not in sealed.text
    assert base64.b64decode(sealed.json()["payloads"][0]["metadata"]["encoding"]) == b"binary/encrypted"
    opened = httpx.post(f"{server.url}/decode", json=sealed.json(), headers=bearer(server.token))
    assert opened.status_code == 200 and opened.json() == PLAIN


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}])
def test_without_a_valid_token_nothing_is_decoded(server, headers):
    sealed = httpx.post(f"{server.url}/encode", json=PLAIN, headers=bearer(server.token)).json()
    for path in ("/decode", "/ui/wrong/decode"):
        refused = httpx.post(f"{server.url}{path}", json=sealed, headers=headers)
        assert refused.status_code == 401 and "P-777" not in refused.text
        assert refused.headers["www-authenticate"] == "Bearer"


def test_ui_endpoint_carries_the_token_in_its_path(server):
    sealed = httpx.post(f"{server.url}/encode", json=PLAIN, headers=bearer(server.token)).json()
    opened = httpx.post(f"{server.url}/ui/{server.token}/decode", json=sealed, headers={"Origin": ORIGIN})
    assert opened.status_code == 200 and opened.json() == PLAIN
    assert opened.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(("origin", "allowed"), [(ORIGIN, True), ("http://evil.example", False)])
def test_cors_preflight_only_for_the_ui_origin(server, origin, allowed):
    answer = httpx.options(f"{server.url}/ui/{server.token}/decode", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace"})
    assert (answer.headers.get("access-control-allow-origin") == origin) is allowed
    assert (answer.status_code == 200) is allowed


def test_large_bodies_are_refused(server):
    big = {"payloads": [{"metadata": {}, "data": base64.b64encode(b"x" * 8192).decode()}]}
    assert httpx.post(f"{server.url}/decode", json=big, headers=bearer(server.token)).status_code == 413


def test_tampered_payload_is_a_clear_400(server):
    sealed = httpx.post(f"{server.url}/encode", json=PLAIN, headers=bearer(server.token)).json()
    data = bytearray(base64.b64decode(sealed["payloads"][0]["data"]))
    data[-1] ^= 1
    sealed["payloads"][0]["data"] = base64.b64encode(bytes(data)).decode()
    answer = httpx.post(f"{server.url}/decode", json=sealed, headers=bearer(server.token))
    assert answer.status_code == 400 and "failed authentication" in answer.json()["error"]


def test_healthz_and_access_log_without_contents_or_token(server, caplog):
    with caplog.at_level(logging.INFO, logger="mlwright.codec_server"):
        assert httpx.get(f"{server.url}/healthz").json() == {"ok": True}
        sealed = httpx.post(f"{server.url}/encode", json=PLAIN, headers=bearer(server.token)).json()
        httpx.post(f"{server.url}/ui/{server.token}/decode", json=sealed)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/ui/<token>/decode 200" in logged and "decode 1 payloads" in logged
    assert "P-777" not in logged and server.token not in logged and sealed["payloads"][0]["data"] not in logged
