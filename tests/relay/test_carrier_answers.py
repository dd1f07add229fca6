"""The carriers' answer documents through the real relay (TeXML, Plivo XML, Vonage NCCO) and their
webhook signatures when a secret is configured. Signatures in these tests are computed here, from
each carrier's documented algorithm, independently of liveguard's own helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import xml.etree.ElementTree as ET

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from liveguard.transports import carrier_signatures as sigs


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(secret: str, claims: dict) -> str:
    head = _b64u(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64u(json.dumps(claims).encode())
    return head + "." + _b64u(hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest())


async def test_answer_documents_without_secrets(relay) -> None:
    base = relay.base_url
    ws = f"ws://{relay.host}:{relay.port}"
    async with aiohttp.ClientSession() as http:
        form = {"CallSid": "v3:x", "From": "+15550100", "To": "+15550199"}
        async with http.post(f"{base}/telnyx/texml?scenario=seed-2333", data=form) as r:
            assert r.status == 200 and r.content_type == "text/xml"
            root = ET.fromstring(await r.text())
        stream = root.find("./Connect/Stream")
        assert stream is not None and stream.get("url") == f"{ws}/telnyx/stream"
        assert (
            stream.get("bidirectionalMode") == "rtp" and stream.get("bidirectionalCodec") == "PCMU"
        )
        params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        assert params == {
            "CallSid": "v3:x",
            "From": "+15550100",
            "To": "+15550199",
            "scenario": "seed-2333",
        }

        async with http.post(f"{base}/plivo/answer", data={"From": "+1 555", "To": "42"}) as r:
            assert r.status == 200
            stream = ET.fromstring(await r.text()).find("./Stream")
        assert stream is not None and stream.text == f"{ws}/plivo/stream"
        assert stream.get("bidirectional") == "true" and stream.get("keepCallAlive") == "true"
        assert stream.get("contentType") == "audio/x-mulaw;rate=8000"
        assert stream.get("extraHeaders") == "From=1555,To=42"  # only [A-Za-z0-9] allowed

        async with http.get(f"{base}/vonage/answer?uuid=u1&from=447700900000&to=44") as r:
            assert r.status == 200
            ncco = await r.json()
        (action,) = ncco
        (endpoint,) = action["endpoint"]
        assert action["action"] == "connect" and endpoint["type"] == "websocket"
        assert endpoint["uri"] == f"{ws}/vonage/stream"
        assert endpoint["content-type"] == "audio/l16;rate=16000"
        assert endpoint["headers"] == {"uuid": "u1", "from": "447700900000", "to": "44"}


async def test_public_url_names_the_wss_stream(relay_factory) -> None:
    relay = await relay_factory(public_url="https://calls.example.com/lg")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{relay.base_url}/vonage/answer?rate=8000") as r:
            (action,) = await r.json()
    assert action["endpoint"][0]["uri"] == "wss://calls.example.com/lg/vonage/stream"
    assert action["endpoint"][0]["content-type"] == "audio/l16;rate=8000"


async def test_telnyx_ed25519_signature(relay_factory) -> None:
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    relay = await relay_factory(telnyx_public_key=public.decode())
    url = f"{relay.base_url}/telnyx/texml"
    body = b"CallSid=v3%3Ax&From=%2B15550100"
    ts = str(int(time.time()))
    good = base64.b64encode(key.sign(ts.encode() + b"|" + body)).decode()
    stale = str(int(time.time()) - 3600)
    stale_sig = base64.b64encode(key.sign(stale.encode() + b"|" + body)).decode()
    other = base64.b64encode(Ed25519PrivateKey.generate().sign(ts.encode() + b"|" + body)).decode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    cases = [
        ({"telnyx-signature-ed25519": good, "telnyx-timestamp": ts}, 200),
        ({}, 403),
        ({"telnyx-signature-ed25519": other, "telnyx-timestamp": ts}, 403),
        ({"telnyx-signature-ed25519": stale_sig, "telnyx-timestamp": stale}, 403),
        ({"telnyx-signature-ed25519": "bm90IGEgc2ln", "telnyx-timestamp": ts}, 403),
    ]
    async with aiohttp.ClientSession() as http:
        for headers, status in cases:
            async with http.post(url, data=body, headers={**form, **headers}) as r:
                assert r.status == status, headers
    # tampering with the body breaks the signature
    assert not sigs.telnyx_valid(public.decode(), body + b"x", good, ts)


async def test_plivo_v2_signature(relay_factory) -> None:
    token = "MAXXXXXXXXXXXXXXXXXX-token"
    # the documented construction: HMAC-SHA256 over the base URI with the nonce appended
    doc_message = "https://example.com/answer/05429567804466091622"
    doc_sig = base64.b64encode(
        hmac.new(token.encode(), doc_message.encode(), hashlib.sha256).digest()
    ).decode()
    assert sigs.plivo_signature(token, "https://example.com/answer/", "05429567804466091622") == (
        doc_sig
    )
    relay = await relay_factory(plivo_auth_token=token)
    url = f"{relay.base_url}/plivo/answer"
    nonce = "12345678901234567890"
    good = base64.b64encode(
        hmac.new(token.encode(), (url + nonce).encode(), hashlib.sha256).digest()
    ).decode()
    cases = [
        ({"X-Plivo-Signature-V2": good, "X-Plivo-Signature-V2-Nonce": nonce}, 200),
        ({"X-Plivo-Signature-V2": good, "X-Plivo-Signature-V2-Nonce": nonce + "1"}, 403),
        ({"X-Plivo-Signature-V2-Nonce": nonce}, 403),
        ({}, 403),
    ]
    async with aiohttp.ClientSession() as http:
        for headers, status in cases:
            async with http.post(url, data={"From": "1"}, headers=headers) as r:
                assert r.status == status, headers


async def test_vonage_signed_webhook_jwt(relay_factory) -> None:
    secret = "vonage-signature-secret"
    relay = await relay_factory(vonage_signature_secret=secret)
    url = f"{relay.base_url}/vonage/answer"
    now = int(time.time())
    body = json.dumps({"uuid": "u1", "from": "1", "to": "2"}).encode()
    digest = hashlib.sha256(body).hexdigest()
    cases = [
        ("GET", b"", hs256(secret, {"iat": now}), 200),
        ("POST", body, hs256(secret, {"iat": now, "payload_hash": digest}), 200),
        ("POST", body, hs256(secret, {"iat": now, "payload_hash": "0" * 64}), 403),
        ("GET", b"", hs256("another-secret", {"iat": now}), 403),
        ("GET", b"", hs256(secret, {"iat": now - 3600}), 403),
        ("GET", b"", None, 403),
        ("GET", b"", "not.a.jwt", 403),
    ]
    async with aiohttp.ClientSession() as http:
        for method, data, token, status in cases:
            headers = {"Content-Type": "application/json"}
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            async with http.request(method, url, data=data or None, headers=headers) as r:
                assert r.status == status, (method, token)
                if status == 200:
                    (action,) = await r.json()
                    assert action["action"] == "connect"
