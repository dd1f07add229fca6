"""The emulator's pong control: when websockets' `recv_frame` cannot be wrapped, websockets
answers every ping itself (said once), and the SDK and the relay still work."""

from __future__ import annotations

import asyncio
from types import MethodType

from fastpath_helpers import MODEL, converse, fastpath_warnings, relay_call_answered
from google.genai import types
from websockets.protocol import Protocol

from liveguard.fastpath.ws_pings import WS_PINGS
from liveguard.session.upstream import UpstreamConnection


async def _ping(emulator, scenario: str) -> bool:
    """A ping from the SDK's socket to a session of `scenario`: was it answered by the end of a
    turn that followed it?"""
    up = UpstreamConnection(
        emulator.client(scenario), MODEL, types.LiveConnectConfig(response_modalities=["AUDIO"])
    )
    await up.open()
    try:
        pong = await up.session._ws.ping(b"are-you-there")
        await up.send_text("hello")
        async with asyncio.timeout(20):  # frames are handled in order: the ping came first
            async for msg in up.messages():
                content = getattr(msg, "server_content", None)
                if content and content.turn_complete:
                    break
        await asyncio.sleep(0.05)
        return pong.done() and not pong.cancelled() and pong.exception() is None
    finally:
        await up.close()


async def test_on_by_default_the_scenario_drops_pongs(emulator) -> None:
    assert WS_PINGS.usable()
    assert not await _ping(emulator, "no-pongs")
    assert emulator.sessions[-1].pongs_dropped == 1


def _unwrappable_recv_frame(monkeypatch) -> None:
    """A websockets whose `recv_frame` is read-only on the instance: it works, no wrapping."""
    original = Protocol.recv_frame
    monkeypatch.setattr(Protocol, "recv_frame", property(lambda self: MethodType(original, self)))


async def test_without_ping_control_websockets_answers_and_it_is_said_once(
    emulator, relay, monkeypatch, caplog
) -> None:
    _unwrappable_recv_frame(monkeypatch)
    caplog.set_level("WARNING", logger="liveguard.fastpath")

    assert await _ping(emulator, "no-pongs")  # answered, the scenario notwithstanding
    assert emulator.sessions[-1].pings_received == 0

    talk = await converse(emulator)
    assert talk.audio_chunks > 0 and talk.stats.audio_bytes_received == talk.sent_bytes
    await relay_call_answered(relay)
    (warning,) = fastpath_warnings(caplog, "ws-pings")
    assert "probe failed: AttributeError" in warning and "answers every ping" in warning
