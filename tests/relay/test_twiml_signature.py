"""TwiML and X-Twilio-Signature: Twilio's published vectors, and the webhook over real HTTP."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import aiohttp
import pytest

from liveguard.transports.signature import compute_signature, validate_signature
from liveguard.transports.twiml import connect_stream, stream_url

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


def test_signature_matches_twilios_published_vectors() -> None:
    assert compute_signature(TOKEN, URL, PARAMS.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert compute_signature(TOKEN, URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_validate_accepts_port_variants_and_rejects_tampering() -> None:
    sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert validate_signature(TOKEN, URL, PARAMS.items(), sig)
    assert validate_signature(TOKEN, URL.replace(".com/", ".com:443/"), PARAMS.items(), sig)
    assert not validate_signature(TOKEN, URL, {**PARAMS, "Digits": "9"}.items(), sig)
    assert not validate_signature(TOKEN, URL + "&x=1", PARAMS.items(), sig)
    assert not validate_signature("other", URL, PARAMS.items(), sig)
    assert not validate_signature(TOKEN, URL, PARAMS.items(), None)
    assert not validate_signature(TOKEN, URL, PARAMS.items(), "")


def test_stream_url_from_public_url_or_request() -> None:
    assert stream_url("https://relay.example/base/", "ignored", "http", None) == (
        "wss://relay.example/base/twilio/stream"
    )
    assert stream_url(None, "h:8080", "http", None) == "ws://h:8080/twilio/stream"
    assert stream_url(None, "h", "http", "https") == "wss://h/twilio/stream"
    with pytest.raises(ValueError, match="public_url"):
        stream_url("ftp://x", "h", "http", None)


def test_twiml_escapes_parameters() -> None:
    xml = connect_stream("wss://h/twilio/stream", {"From": '+1"<&>'})
    root = ET.fromstring(xml)
    stream = root.find("./Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://h/twilio/stream"
    (param,) = stream.findall("Parameter")
    assert param.get("name") == "From" and param.get("value") == '+1"<&>'


async def test_voice_webhook_without_token_returns_twiml(relay) -> None:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            relay.base_url + "/twilio/voice",
            data={"CallSid": "CA9", "From": "+15550100"},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert resp.status == 200 and resp.content_type == "text/xml"
        root = ET.fromstring(await resp.text())
    stream = root.find("./Connect/Stream")
    assert stream is not None
    assert stream.get("url") == f"wss://{relay.host}:{relay.port}/twilio/stream"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params == {"CallSid": "CA9", "From": "+15550100"}


async def test_voice_webhook_checks_the_signature(relay_factory) -> None:
    relay = await relay_factory(
        twilio_auth_token="tok", public_url="https://relay.example", auth_token="bearer-secret"
    )
    form = {"CallSid": "CA9", "From": "+15550100"}
    good = compute_signature("tok", "https://relay.example/twilio/voice", form.items())
    async with aiohttp.ClientSession() as http:
        url = relay.base_url + "/twilio/voice"
        ok = await http.post(url, data=form, headers={"X-Twilio-Signature": good})
        assert ok.status == 200
        assert "wss://relay.example/twilio/stream" in await ok.text()
        bad = await http.post(
            url, data={**form, "From": "+1999"}, headers={"X-Twilio-Signature": good}
        )
        assert bad.status == 403
        missing = await http.post(url, data=form)
        assert missing.status == 403
        # the stream upgrade is signed too (the wss URL, no parameters)
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(relay.twilio_url)
        assert info.value.status == 403
        sig = compute_signature("tok", "wss://relay.example/twilio/stream", [])
        ws = await http.ws_connect(relay.twilio_url, headers={"X-Twilio-Signature": sig})
        await ws.close()
        # the relay's own token guards metrics; health stays open
        assert (await http.get(relay.base_url + "/metrics")).status == 401
        authed = await http.get(
            relay.base_url + "/metrics", headers={"Authorization": "Bearer bearer-secret"}
        )
        assert authed.status == 200
        assert (await http.get(relay.base_url + "/healthz")).status == 200
