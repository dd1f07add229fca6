"""Bad client input gets the service's close code and never disturbs a healthy session."""

from __future__ import annotations

import asyncio
import json

import pytest
from google.genai import types
from test_server_wire_rules import MODEL, SETUP, expect_close, raw

from liveguard.emulator.server import Emulator

BAD_FRAMES = {
    "malformed-json": ("{not json", 1007),
    "json-array": ("[1,2,3]", 1007),
    "wrong-type": ('{"realtime_input": {"audioStreamEnd": "yes"}}', 1007),
    "bad-base64": (
        '{"realtime_input": {"audio": {"data": "A$A$", "mime_type": "audio/pcm"}}}',
        1007,
    ),
    "unknown-message": ('{"error": {"code": 1}}', 1007),
    "unknown-field": ('{"realtime_input": {"speed": 2}}', 1007),
    "two-messages": ('{"realtime_input": {}, "client_content": {}}', 1007),
    "binary-garbage": (b"\x00\xff\xfe garbage", 1007),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
async def test_bad_frame_mid_session_gets_the_service_close_code(emulator: Emulator, name: str):
    frame, code = BAD_FRAMES[name]
    async with raw(emulator) as ws:
        await ws.send(SETUP)
        await ws.recv()
        await ws.send(frame)
        got, reason = await expect_close(ws)
    assert got == code
    assert reason and len(reason.encode()) <= 123
    stats = (await emulator.wait_closed_sessions())[0]
    assert stats.close_side == "server" and stats.error is None


async def test_oversized_frame_closes_1009_without_buffering_it(emulator_factory) -> None:
    emu = await emulator_factory(max_frame_bytes=64 * 1024)
    async with raw(emu) as ws:
        await ws.send(SETUP)
        await ws.recv()
        await ws.send("x" * (64 * 1024 + 1))
        code, _ = await expect_close(ws)
    assert code == 1009
    stats = (await emu.wait_closed_sessions())[0]
    assert (stats.close_code, stats.close_side) == (1009, "server")
    assert stats.bytes_received < 64 * 1024  # the big frame was never accepted


async def test_oversized_setup_frame_closes_1009(emulator_factory) -> None:
    emu = await emulator_factory(max_frame_bytes=16 * 1024)
    big = json.dumps(
        {
            "setup": {
                "model": f"models/{MODEL}",
                "systemInstruction": {"parts": [{"text": "x" * 20_000}]},
            }
        }
    )
    async with raw(emu) as ws:
        await ws.send(big)
        code, _ = await expect_close(ws)
    assert code == 1009


async def test_socket_dropped_without_close_is_recorded_as_abnormal(emulator: Emulator) -> None:
    async with raw(emulator) as ws:
        await ws.send(SETUP)
        await ws.recv()
        ws.transport.abort()
    stats = (await emulator.wait_closed_sessions())[0]
    assert stats.close_side == "abnormal" and stats.close_code == 1006
    assert stats.error is None


async def test_bad_sessions_do_not_disturb_a_healthy_sdk_session(emulator: Emulator) -> None:
    """A real SDK conversation keeps going while other connections misbehave in every way."""
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL) as session:

        async def misbehave() -> list[int]:
            codes = []
            for frame, _ in BAD_FRAMES.values():
                async with raw(emulator) as ws:
                    await ws.send(SETUP)
                    await ws.recv()
                    await ws.send(frame)
                    codes.append((await expect_close(ws))[0])
            async with raw(emulator) as ws:  # dropped mid-session
                await ws.send(SETUP)
                ws.transport.abort()
            return codes

        async def converse() -> int:
            turns = 0
            for _ in range(2):
                await session.send_client_content(
                    turns=types.Content(role="user", parts=[types.Part(text="Hello")]),
                    turn_complete=True,
                )
                msgs = [m async for m in session.receive()]
                assert msgs[-1].server_content.turn_complete
                assert any(m.data for m in msgs), "the healthy session still gets audio"
                turns += 1
            return turns

        codes, turns = await asyncio.gather(misbehave(), converse())
    assert codes == [code for _, code in BAD_FRAMES.values()]
    assert turns == 2
    await emulator.wait_closed_sessions()
    healthy = emulator.sessions[0]
    assert (healthy.close_code, healthy.close_side) == (1000, "client")
    assert all(s.error is None for s in emulator.sessions)
