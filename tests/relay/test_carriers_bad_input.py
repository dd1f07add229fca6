"""Bad caller input per carrier, through the real relay: unknown events, another stream's id, bad
base64, wrong frame sizes, binary where text is expected and invalid JSON continue that call with
a logged reason; an unsupported media format ends that call; a healthy call on every carrier at
the same time never notices."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from relay_helpers import logs_by_session

from liveguard.caller.simulated import run_call
from liveguard.caller.wire import CallerWire, make_wire

CARRIERS = ("telnyx", "plivo", "vonage", "exotel")
SILENCE = b"\xff" * 160
SID_KEY = {"telnyx": "stream_id", "plivo": "streamId", "exotel": "stream_sid"}


def media_message(wire: CallerWire, ulaw: bytes, n: int) -> str | bytes:
    """The wire's next media message (Exotel's caller holds 20 ms frames for a 100 ms chunk)."""
    for _ in range(10):
        message = wire.media(ulaw, n)
        if message is not None:
            return message
    raise AssertionError("the wire never sent a media message")


def bad_messages(carrier: str, wire: CallerWire) -> list[tuple[str | bytes, str]]:
    """(message, a phrase its logged reason must contain) for this carrier."""
    if carrier == "vonage":
        return [
            (b"\x00" * 100, "binary frame of 100 bytes"),
            (json.dumps({"event": "websocket:bogus"}), "unknown event"),
            ("{not json", "invalid JSON"),
            (b"\x00" * 1280, "binary frame of 1280 bytes"),
        ]
    key = SID_KEY[carrier]
    media = json.loads(media_message(wire, SILENCE, 1))
    other = {**media, key: "OTHER"}
    bad_b64 = {**media, "media": {**media["media"], "payload": "!!not base64!!"}}
    out: list[tuple[str | bytes, str]] = [
        (json.dumps({"event": "bogus", key: wire.stream_id}), "unknown event 'bogus'"),
        (json.dumps(other), "another stream 'OTHER'"),
        (json.dumps(bad_b64), "not valid base64"),
        (b"\x00\x01", "binary frame"),
        ("{not json", "invalid JSON"),
    ]
    if carrier == "exotel":  # PCM16: a chunk must be whole samples
        odd = {**media, "media": {**media["media"], "payload": "AAAA"}}  # 3 bytes
        out.append((json.dumps(odd), "whole 2-byte samples"))
    return out


async def send(ws: aiohttp.ClientWebSocketResponse, frame: str | bytes) -> None:
    if isinstance(frame, bytes):
        await ws.send_bytes(frame)
    else:
        await ws.send_str(frame)


async def bad_but_continuing(base: str, carrier: str) -> int | None:
    wire = make_wire(carrier, {"who": "bad"})
    url = wire.connect_url(f"{base}/{carrier}/stream")
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        for frame in wire.handshake():
            await send(ws, frame)
        for frame, _ in bad_messages(carrier, wire):
            await send(ws, frame)
        for n in range(25):  # the call goes on: good audio after the bad messages
            message = wire.media(SILENCE, n + 2)
            if message is not None:
                await send(ws, message)
            await asyncio.sleep(0.02)
        stop = wire.stop()
        if stop is None:  # carriers without a stop message hang up by closing
            await ws.close()
            return ws.close_code
        await send(ws, stop)
        async with asyncio.timeout(10):  # model audio may still come before the relay's close
            while not ws.closed:
                await ws.receive()
        return ws.close_code


async def unsupported_format(base: str, carrier: str) -> int | None:
    wire = make_wire(carrier, {"who": "fatal"})
    url = wire.connect_url(f"{base}/{carrier}/stream")
    opening = [json.loads(f) for f in wire.handshake()]
    for msg in opening:  # the same opening, but in a format nobody supports
        if "start" in msg:
            fmt = msg["start"].get("media_format") or msg["start"].get("mediaFormat")
            fmt.update({"encoding": "G729", "sample_rate": "44100", "sampleRate": 44100})
        if msg.get("event") == "websocket:connected":
            msg["content-type"] = "audio/l16;rate=44100"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        for msg in opening:
            await ws.send_str(json.dumps(msg))
        async with asyncio.timeout(10):
            while not ws.closed:
                await ws.receive()
        return ws.close_code


async def test_bad_input_per_carrier_ends_or_continues_that_call_only(
    relay, tmp_path: Path
) -> None:
    base = f"ws://{relay.host}:{relay.port}"
    healthy = [
        run_call(f"{base}/{c}/stream", "quick", carrier=c, parameters={"who": "healthy"})
        for c in CARRIERS
    ]
    results, continuing, fatal = await asyncio.gather(
        asyncio.gather(*healthy),
        asyncio.gather(*(bad_but_continuing(base, c) for c in CARRIERS)),
        asyncio.gather(*(unsupported_format(base, c) for c in CARRIERS)),
    )
    for carrier, r in zip(CARRIERS, results, strict=True):
        s = r.summary
        assert s["answered"] == 1 and s["errors"] == [] and not s["closed_by_relay"], carrier
    assert all(code in (1000, 1001) for code in continuing), continuing
    assert fatal == [1008] * len(CARRIERS), fatal

    await relay.stop()
    sessions = list(logs_by_session(tmp_path / "logs").values())
    assert len(sessions) == 3 * len(CARRIERS)
    by_carrier: dict[str, list[list[dict]]] = {}
    for records in sessions:
        assert records[0]["event"] == "session_start" and records[-1]["event"] == "session_end"
        by_carrier.setdefault(records[0]["transport"], []).append(records)
    assert sorted(by_carrier) == sorted(CARRIERS)
    for carrier, logs in by_carrier.items():
        errors_per_call = [[r for r in recs if r["event"] == "caller_error"] for recs in logs]
        clean = [recs for recs, errs in zip(logs, errors_per_call, strict=True) if not errs]
        assert len(clean) == 1, carrier  # the healthy call logged no caller error
        assert clean[0][-1]["reason"] == "caller hung up"
        bad = [errs for errs in errors_per_call if errs]
        ended = [errs for errs in bad if any(e["fatal"] for e in errs)]
        continued = [errs for errs in bad if not any(e["fatal"] for e in errs)]
        assert len(ended) == 1 and len(continued) == 1, (carrier, bad)
        (fatal_error,) = ended[0]
        assert "unsupported" in fatal_error["reason"] and fatal_error["reason"].startswith(carrier)
        reasons = [e["reason"] for e in continued[0]]
        wire = make_wire(carrier, {})
        for _, phrase in bad_messages(carrier, wire):
            assert any(phrase in reason for reason in reasons), (carrier, phrase, reasons)
        continuing_log = next(
            recs for recs, errs in zip(logs, errors_per_call, strict=True) if errs == continued[0]
        )
        assert continuing_log[-1]["reason"] == "caller hung up"  # it was not ended by bad input
