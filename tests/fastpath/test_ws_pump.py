"""The emulator's pump: when websockets lacks the shape it needs, each session is served by the
reference recv loop (said once), and the real SDK still converses; bad frames still close."""

from __future__ import annotations

import collections
import json
from types import SimpleNamespace

import pytest
from fastpath_helpers import MODEL, converse, fastpath_warnings
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

import liveguard.fastpath.ws_pump as ws_pump
from liveguard.emulator.server import Emulator
from liveguard.fastpath.ws_pump import WS_PUMP, can_pump

PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
SETUP = json.dumps({"setup": {"model": f"models/{MODEL}"}})


class _NoProcessEvent:
    """A websockets ServerConnection as a future release might shape it: no `process_event`."""

    send_data = staticmethod(lambda: None)


def _hide_process_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws_pump, "ServerConnection", _NoProcessEvent)


async def test_on_by_default_the_pump_serves_the_session(emulator) -> None:
    talk = await converse(emulator)
    assert WS_PUMP.usable()
    assert talk.audio_chunks > 0 and talk.stats.audio_bytes_received == talk.sent_bytes
    assert talk.stats.frames_fast_read > 0  # the fast reader feeds only the pump


async def test_without_the_pump_a_recv_loop_serves_and_it_is_said_once(
    emulator, monkeypatch, caplog
) -> None:
    _hide_process_event(monkeypatch)
    caplog.set_level("WARNING", logger="liveguard.fastpath")

    for _ in range(2):
        talk = await converse(emulator)
        assert talk.audio_chunks > 0  # the turn was answered, with model audio
        assert talk.stats.audio_bytes_received == talk.sent_bytes  # every caller byte arrived
        assert talk.stats.frames_fast_read == 0  # no pump: websockets parsed every frame
        assert talk.stats.setup_complete and talk.stats.frames_sent > talk.audio_chunks
    assert not WS_PUMP.usable()
    (warning,) = fastpath_warnings(caplog, "ws-pump")
    assert "no process_event()" in warning and "recv() loop" in warning


@pytest.mark.parametrize(
    ("frame", "code"), [("{not json", 1007), (SETUP, 1007), (b"\x00\xff garbage", 1007)]
)
async def test_without_the_pump_a_bad_frame_still_closes_the_session(
    emulator: Emulator, monkeypatch, frame: str | bytes, code: int
) -> None:
    _hide_process_event(monkeypatch)
    url = emulator.base_url.replace("https://", "wss://", 1) + PATH
    headers = {"x-goog-api-key": emulator.api_key}
    async with ws_connect(url, ssl=emulator.ssl_context(), additional_headers=headers) as ws:
        await ws.send(SETUP)
        await ws.recv()
        await ws.send(frame)
        with pytest.raises(ConnectionClosed) as info:
            for _ in range(10_000):
                await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == code
    (stats,) = await emulator.wait_closed_sessions()
    assert stats.close_side == "server" and stats.close_code == code and stats.error is None
    assert not WS_PUMP.usable()


def test_a_connection_without_the_pumps_attributes_takes_the_recv_loop(caplog) -> None:
    """The per-connection half of the probe (attributes websockets makes in connection_made)."""
    caplog.set_level("WARNING", logger="liveguard.fastpath")
    frames = SimpleNamespace(queue=collections.deque())
    assert can_pump(SimpleNamespace(recv_messages=SimpleNamespace(frames=frames), paused=False))
    assert not can_pump(SimpleNamespace(recv_messages=SimpleNamespace(frames=frames)))
    assert not can_pump(SimpleNamespace(recv_messages=SimpleNamespace(), paused=False))
    (warning,) = fastpath_warnings(caplog, "ws-pump")
    assert "no paused flag" in warning
