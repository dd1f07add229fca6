"""End to end: `liveguard call` logic → relay (aiohttp) → GuardedSession → google-genai SDK →
emulator (TLS), and the browser WebSocket. Real parts everywhere; nothing of liveguard is mocked."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from relay_helpers import logs_by_session

from liveguard.audio.clips import clip_text, load_clip
from liveguard.caller.simulated import run_call
from liveguard.transports import call as call_module


def assert_complete(records: list[dict]) -> None:
    """A session log starts with session_start and ends with session_end (events may be stamped
    with when they happened, e.g. the VAD's end of speech, so `t` need not be sorted)."""
    assert records[0]["event"] == "session_start"
    assert records[-1]["event"] == "session_end"
    assert all(r["t"] >= 0 for r in records)


async def test_phone_calls_turns_barge_in_and_dtmf(relay, emulator, tmp_path: Path) -> None:
    lines: dict[str, list[dict]] = {"three-turns": [], "barge-in": [], "dtmf": []}
    results = await asyncio.gather(
        *(run_call(relay.twilio_url, name, on_line=lines[name].append) for name in lines)
    )
    turns, barge, dtmf = results

    # several turns, every one answered, the caller heard real audio
    assert turns.summary["turns"] == 3 and turns.summary["answered"] == 3
    assert turns.summary["unanswered"] == 0
    assert turns.summary["greeting_heard_s"] > 1.0
    assert all(t["heard_s"] > 0.5 for t in turns.turns)
    assert all(0 < t["end_of_speech_to_first_audio_s"] < 10 for t in turns.turns)
    assert turns.summary["marks_echoed"] > 0 and turns.summary["clears"] == 0
    assert len(turns.heard) > 8000 * 4  # μ-law the caller actually heard
    assert lines["three-turns"][-1]["summary"] is True and len(lines["three-turns"]) == 4

    # barge-in: the relay sent `clear`, the interrupted answer stopped short, then an answer came
    (first, barged) = barge.turns
    assert barged["kind"] == "barge_in" and barged["barged"] is True
    assert barged["clear_received"] is True and barged["cleared_s"] > 0.1
    assert barged["answered"] is True
    full_reply = min(load_clip(n, 8000).seconds for n in ("ask_order_number", "order_shipped"))
    assert first["heard_s"] < full_reply  # playout stopped: the caller did not hear it all

    # DTMF: forwarded as text, answered
    (digit_turn, after) = dtmf.turns
    assert digit_turn["utterance"] == "dtmf:5" and digit_turn["answered"] is True
    assert after["answered"] is True

    await relay.stop()  # flush every log
    sessions = logs_by_session(tmp_path / "logs")
    assert len(sessions) == 3
    by_kind: dict[str, list[dict]] = {}
    for records in sessions.values():
        assert_complete(records)
        assert records[0]["transport"] == "twilio"
        names = {r["event"] for r in records}
        key = (
            "barge" if "playout_cleared" in names else "dtmf" if "caller_dtmf" in names else "turns"
        )
        by_kind[key] = records
    assert set(by_kind) == {"barge", "dtmf", "turns"}
    cleared = [r for r in by_kind["barge"] if r["event"] == "playout_cleared"]
    assert cleared and cleared[0]["unplayed_s"] > 0
    assert any(r["event"] == "caller_dtmf" and r["digit"] == "5" for r in by_kind["dtmf"])
    assert any(r["event"] == "caller_text" and "pressed 5" in r["text"] for r in by_kind["dtmf"])
    assert any(r["event"] == "playout_mark" for r in by_kind["turns"])
    assert not any(r["event"] == "caller_error" for recs in sessions.values() for r in recs)
    # every caller frame reached the emulator (the relay drops nothing)
    stats = await emulator.wait_closed_sessions()
    received = sorted(s.audio_frames_received for s in stats)
    sent = sorted(r.summary["frames_sent"] for r in results)
    assert received == sent


async def test_a_backed_up_caller_socket_gets_model_audio_through_the_model_loop(
    relay, monkeypatch
) -> None:
    """With the caller's socket over the write-now limit, model audio, marks and `clear` wait
    for the model loop's drained sends instead of being written from the session's task: the
    same call still plays, barges in and is answered."""
    monkeypatch.setattr(call_module, "WRITE_NOW_LIMIT", -1)  # every socket counts as backed up
    result = await run_call(relay.twilio_url, "barge-in")
    (first, barged) = result.turns
    assert barged["barged"] is True and barged["clear_received"] is True
    assert barged["answered"] is True and first["heard_s"] > 0.2
    assert result.summary["greeting_heard_s"] > 1.0 and result.summary["marks_echoed"] > 0


def _start(sid: str = "MZbad") -> str:
    return json.dumps(
        {
            "event": "start",
            "start": {
                "streamSid": sid,
                "callSid": "CAbad",
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {},
            },
            "streamSid": sid,
        }
    )


def _media(payload: str, sid: str = "MZbad") -> str:
    return json.dumps({"event": "media", "streamSid": sid, "media": {"payload": payload}})


SILENCE_B64 = "/" * 212 + "w=="  # 160 bytes of 0xff, base64


async def _bad_but_continuing(url: str) -> int | None:
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_str(_media(SILENCE_B64))  # media before start
        await ws.send_str(_start())
        await ws.send_str("{not json")
        await ws.send_str(_media("!!not base64!!"))
        await ws.send_str(_media("A" * 70000))  # over the protocol's limit, under aiohttp's
        await ws.send_bytes(b"\x00\x01")
        for _ in range(25):
            await ws.send_str(_media(SILENCE_B64))
            await asyncio.sleep(0.02)
        await ws.send_str(json.dumps({"event": "stop", "streamSid": "MZbad", "stop": {}}))
        await ws.receive(timeout=10)  # the relay ends the stream
        return ws.close_code


async def _oversized(url: str) -> int | None:
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        await ws.send_str(_start())
        await ws.send_str(_media(SILENCE_B64))
        await ws.send_str("x" * 400_000)  # beyond aiohttp's hard limit: the socket is closed
        msg = await ws.receive(timeout=10)
        return ws.close_code if msg.type != aiohttp.WSMsgType.TEXT else -1


async def _dropped(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url)
        await ws.send_str(_start())
        for _ in range(10):
            await ws.send_str(_media(SILENCE_B64))
            await asyncio.sleep(0.02)
        transport = ws._response.connection.transport  # a dead line: no close frame, no stop
        transport.abort()
        await asyncio.sleep(0.2)


async def _never_started(url: str) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_str("[]")
        await ws.send_str(json.dumps({"event": "start", "start": {"streamSid": ""}}))
        await asyncio.sleep(0.2)


async def test_bad_caller_input_never_disturbs_a_healthy_call(relay, tmp_path: Path) -> None:
    healthy = asyncio.create_task(run_call(relay.twilio_url, "quick"))
    await asyncio.sleep(0.5)
    close_ok, close_big, _, _ = await asyncio.gather(
        _bad_but_continuing(relay.twilio_url),
        _oversized(relay.twilio_url),
        _dropped(relay.twilio_url),
        _never_started(relay.twilio_url),
    )
    result = await healthy
    assert result.summary["answered"] == 1 and result.summary["unanswered"] == 0
    assert result.summary["errors"] == []
    assert close_ok == 1000
    assert close_big == 1009

    await relay.stop()
    sessions = list(logs_by_session(tmp_path / "logs").values())
    assert len(sessions) == 5
    for records in sessions:
        assert_complete(records)
    errors = {
        id(recs): [(r["reason"], r["fatal"]) for r in recs if r["event"] == "caller_error"]
        for recs in sessions
    }
    ends = {id(recs): recs[-1]["reason"] for recs in sessions}
    text = {k: " | ".join(r for r, _ in v) for k, v in errors.items()}

    def find(fragment: str) -> int:
        (key,) = [k for k, v in text.items() if fragment in v]
        return key

    k = find("invalid JSON")
    for fragment in ("'media' before 'start'", "not valid base64", "exceeds", "binary frame"):
        assert fragment in text[k]
    assert not any(fatal for _, fatal in errors[k]) and ends[k] == "caller hung up"
    k = find("websocket error")
    assert any(fatal for _, fatal in errors[k])
    k = find("dropped mid-call")
    assert ends[k] == "caller dropped"
    k = find("without a valid streamSid")
    assert "not a JSON object" in text[k]
    assert ends[k] == "'start' without a valid streamSid"
    assert sum(1 for v in errors.values() if not v) == 1  # only the healthy call is clean


async def test_browser_websocket_session(relay, tmp_path: Path) -> None:
    clip = load_clip("opening_hours", 16000)
    received = bytearray()
    messages: list[dict] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(relay.browser_url) as ws:
        ready = await ws.receive_json(timeout=10)
        assert ready["type"] == "ready" and ready["emulator"] is True and ready["up_rate"] == 16000
        await ws.send_str(json.dumps({"type": "start", "sample_rate": 16000}))

        async def reader() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    received.extend(msg.data)
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    messages.append(json.loads(msg.data))

        task = asyncio.create_task(reader())
        frame = 640  # 20 ms at 16 kHz
        pcm = b"\x00" * (16000 * 2 * 3) + clip.pcm + b"\x00" * (16000 * 2 * 4)
        t0 = asyncio.get_running_loop().time()
        for i, off in enumerate(range(0, len(pcm), frame)):
            await ws.send_bytes(pcm[off : off + frame])
            await asyncio.sleep(max(0.0, t0 + (i + 1) * 0.02 - asyncio.get_running_loop().time()))
        await ws.send_str(json.dumps({"type": "nonsense"}))
        await ws.send_str(json.dumps({"type": "hangup"}))
        await asyncio.wait_for(task, 10)
    caller_text = "".join(m["text"] for m in messages if m.get("role") == "caller")
    model_text = "".join(m["text"] for m in messages if m.get("role") == "model")
    assert caller_text.strip().lower().rstrip("?") == clip_text("opening_hours").lower().rstrip("?")
    assert model_text  # greeting and answer transcripts
    assert sum(1 for m in messages if m["type"] == "turn_complete") >= 2
    assert len(received) / 2 / 24000 > 2.0  # greeting + answer, 24 kHz PCM16
    assert any(m["type"] == "error" and "unknown message type" in m["reason"] for m in messages)
    assert messages[-1] == {"type": "ended", "reason": "caller hung up"}


async def test_shutdown_tells_active_calls(relay, tmp_path: Path) -> None:
    phone = asyncio.create_task(run_call(relay.twilio_url, "three-turns"))
    async with aiohttp.ClientSession() as http, http.ws_connect(relay.browser_url) as ws:
        assert (await ws.receive_json(timeout=10))["type"] == "ready"
        for _ in range(300):  # both calls must be active before the relay stops (bounded wait)
            if len(relay.ctx.calls) >= 2:
                break
            await asyncio.sleep(0.1)
        assert len(relay.ctx.calls) == 2
        stopping = asyncio.create_task(relay.stop())  # like SIGTERM, while calls are active
        seen = []
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                seen.append(json.loads(msg.data)["type"])
        assert "shutdown" in seen and ws.close_code == 1001
    await asyncio.wait_for(stopping, 60)
    result = await asyncio.wait_for(phone, 60)
    assert result.summary["closed_by_relay"] is True and result.summary["close_code"] == 1001
    for records in logs_by_session(tmp_path / "logs").values():
        assert_complete(records)
        assert records[-1]["reason"] == "relay shutting down"
