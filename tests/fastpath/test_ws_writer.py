"""The emulator's raw server frames: when websockets writes a server frame differently, every
frame goes through websockets' own frame code (said once), and the SDK and the relay still
work."""

from __future__ import annotations

from fastpath_helpers import converse, fastpath_warnings, relay_call_answered
from websockets.protocol import Protocol

from liveguard.fastpath.ws_writer import WS_WRITER


async def test_on_by_default_server_frames_skip_websockets(emulator, monkeypatch) -> None:
    assert WS_WRITER.usable()
    sends = _count_send_binary(monkeypatch, fragment=False)
    talk = await converse(emulator)
    assert talk.audio_chunks > 0 and talk.stats.frames_sent > 10
    assert len(sends) == 1  # only setupComplete, sent before the pump takes over


def _count_send_binary(monkeypatch, *, fragment: bool) -> list[int]:
    """Record each `Protocol.send_binary`; `fragment`: a websockets that sends every binary
    message as two fragments (valid, but not the single frame the shortcut writes)."""
    original = Protocol.send_binary
    sends: list[int] = []

    def send_binary(self, data, fin: bool = True) -> None:
        sends.append(len(data))
        if not fragment:
            original(self, data, fin)
            return
        half = len(data) // 2
        original(self, data[:half], False)
        self.send_continuation(data[half:], fin)

    monkeypatch.setattr(Protocol, "send_binary", send_binary)
    return sends


async def test_another_frame_layout_takes_websockets_send_and_it_is_said_once(
    emulator, relay, monkeypatch, caplog
) -> None:
    sends = _count_send_binary(monkeypatch, fragment=True)
    caplog.set_level("WARNING", logger="liveguard.fastpath")
    assert not WS_WRITER.usable()
    sends.clear()  # the probe's own frame, on a throwaway protocol

    talk = await converse(emulator)
    assert talk.audio_chunks > 0 and talk.stats.audio_bytes_received == talk.sent_bytes
    assert len(sends) == talk.stats.frames_sent > 10  # every server frame took websockets' code

    await relay_call_answered(relay)
    (warning,) = fastpath_warnings(caplog, "ws-writer")
    assert "frame_header()" in warning and "send_binary()" in warning
