"""Drain: readiness goes 503 at once, new calls are refused the way each transport understands,
calls in progress talk to their end (or get the fallback goodbye when the drain runs out of time),
liveness stays 200. Live calls through a real relay, SDK and emulator."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import aiohttp
import pytest
from relay_helpers import logs_by_session

from liveguard.audio.clips import load_clip
from liveguard.audio.wav import write_wav
from liveguard.caller.script import parse_script
from liveguard.caller.simulated import run_call

TOKEN = "operator-token-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _wait_calls(relay, n: int) -> None:
    for _ in range(300):  # bounded: 30 s
        if len(relay.ctx.calls) >= n:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{n} calls never came up")


async def test_drain_keeps_live_calls_and_refuses_new_ones(relay_factory, tmp_path: Path) -> None:
    relay = await relay_factory(auth_token=TOKEN)
    phone = asyncio.create_task(run_call(relay.twilio_url, "three-turns"))
    await _wait_calls(relay, 1)
    async with aiohttp.ClientSession() as http:
        assert (await http.get(relay.base_url + "/readyz")).status == 200
        resp = await http.post(relay.base_url + "/drain", headers=AUTH)
        assert resp.status == 202 and (await resp.json())["calls"] == 1
        ready = await http.get(relay.base_url + "/readyz")
        assert ready.status == 503 and (await ready.json())["status"] == "draining"
        assert (await http.get(relay.base_url + "/livez")).status == 200

        # Twilio: the webhook answers <Reject>, so Twilio gives the caller a busy signal
        voice = await http.post(relay.base_url + "/twilio/voice", data={"CallSid": "CA2"})
        assert ET.fromstring(await voice.text()).find("Reject") is not None
        # the browser: a retryable refusal (1013 Try Again Later)
        async with http.ws_connect(relay.browser_url + "?token=" + TOKEN) as ws:
            msg = await ws.receive_json(timeout=10)
            assert msg == {"type": "error", "reason": "relay draining", "retry": True}
            await ws.receive(timeout=10)
            assert ws.close_code == 1013
        late = await run_call(relay.twilio_url, "quick")
        assert late.summary["close_code"] == 1013 and late.summary["answered"] == 0

        result = await asyncio.wait_for(phone, 90)  # the call in progress talks to its end
        assert result.summary["answered"] == result.summary["turns"] == 3
        assert result.summary["closed_by_relay"] is False
        ended = await asyncio.wait_for(relay.ctx.start_drain(), 10)
        assert ended == 0  # nothing had to be cut
        assert (await http.get(relay.base_url + "/livez")).status == 200
    reasons = [recs[-1]["reason"] for recs in logs_by_session(tmp_path / "logs").values()]
    assert "caller hung up" in reasons


async def test_drain_timeout_ends_calls_with_the_fallback_goodbye(
    relay_factory, tmp_path: Path
) -> None:
    goodbye = load_clip("goodbye", 24000)
    wav = tmp_path / "goodbye.wav"
    write_wav(wav, goodbye.pcm, 24000)
    relay = await relay_factory(fallback_audio=wav, drain_timeout_s=1.0)
    async with aiohttp.ClientSession() as http, http.ws_connect(relay.browser_url) as ws:
        assert (await ws.receive_json(timeout=10))["type"] == "ready"
        while True:  # the greeting, heard to its end
            msg = await ws.receive(timeout=20)
            if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data)["type"] == (
                "turn_complete"
            ):
                break
        drain = asyncio.create_task(relay.drain())
        audio = bytearray()
        texts: list[dict] = []
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                audio += msg.data
            elif msg.type == aiohttp.WSMsgType.TEXT:
                texts.append(json.loads(msg.data))
        assert ws.close_code == 1001
    assert await asyncio.wait_for(drain, 30) == 1
    heard_s = len(audio) / 2 / 24000
    assert heard_s == pytest.approx(goodbye.seconds, abs=0.15)
    assert {"type": "shutdown", "reason": "drain timeout"} in texts
    (records,) = logs_by_session(tmp_path / "logs").values()
    assert records[-1]["event"] == "session_end" and records[-1]["reason"] == "drain timeout"


def _own_address() -> str | None:
    """This machine's non-loopback address, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))  # no packet is sent: it only picks a route
        except OSError:
            return None
        addr = sock.getsockname()[0]
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


async def test_drain_without_a_token_only_from_this_machine(relay_factory) -> None:
    own = _own_address()
    if own is None:
        pytest.skip("no non-loopback address on this machine")
    relay = await relay_factory(host="0.0.0.0", insecure=True)  # no auth_token
    async with aiohttp.ClientSession() as http:
        remote = await http.post(f"http://{own}:{relay.port}/drain")
        assert remote.status == 403 and not relay.ctx.draining
        local = await http.post(f"http://127.0.0.1:{relay.port}/drain")
        assert local.status == 202
    assert relay.ctx.draining


LONG_CALL = {
    "name": "long",
    "steps": [{"wait_answer": 10}, {"pause": 20}],  # hears the greeting, then stays on the line
}


async def _phone_through_drain_timeout(relay) -> dict:
    """A phone call that outlasts a 0.5 s drain: what its caller got."""
    call = asyncio.create_task(run_call(relay.twilio_url, parse_script(LONG_CALL, "long")))
    for _ in range(300):  # bounded: the greeting has been played to its end
        live = relay.ctx.registry.live()
        if live and live[0].turns >= 1:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert await asyncio.wait_for(relay.ctx.drain(0.5), 30) == 1
    return (await asyncio.wait_for(call, 30)).summary


async def test_a_phone_call_cut_by_the_drain_hears_the_goodbye(
    relay_factory, tmp_path: Path
) -> None:
    goodbye = load_clip("goodbye", 24000)
    wav = tmp_path / "goodbye.wav"
    write_wav(wav, goodbye.pcm, 24000)
    plain = await _phone_through_drain_timeout(await relay_factory())
    polite = await _phone_through_drain_timeout(await relay_factory(fallback_audio=wav))
    for summary in (plain, polite):
        assert summary["closed_by_relay"] is True and summary["close_code"] == 1001
    extra = polite["audio_received_s"] - plain["audio_received_s"]
    assert extra == pytest.approx(goodbye.seconds, abs=0.25)


async def test_serve_drains_on_sigterm_and_stops_on_a_second(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}
    env["LIVEGUARD_LOG_DIR"] = str(tmp_path / "logs")
    proc = subprocess.Popen(  # noqa: ASYNC220 - a long-lived server, not a blocking call
        [sys.executable, "-m", "liveguard", "serve", "--port", "0", "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        ready = json.loads(proc.stdout.readline())
        call = asyncio.create_task(
            run_call(ready["twilio_stream"], parse_script(LONG_CALL, "long"))
        )
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                if (await (await http.get(ready["url"] + "/healthz")).json())["calls"]:
                    break
                await asyncio.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            for _ in range(50):
                if (await http.get(ready["url"] + "/readyz")).status == 503:
                    break
                await asyncio.sleep(0.05)
            assert (await http.get(ready["url"] + "/readyz")).status == 503
            await asyncio.sleep(1.0)
            assert not call.done()  # the drain lets it talk
            proc.send_signal(signal.SIGTERM)  # a second signal: stop now
            summary = (await asyncio.wait_for(call, 30)).summary
        assert summary["closed_by_relay"] is True and summary["close_code"] == 1001
        _, err = await asyncio.to_thread(proc.communicate, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "draining, then shutting down (1 active calls" in err and "stopped" in err
