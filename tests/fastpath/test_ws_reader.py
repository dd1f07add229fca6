"""The emulator's fast reader: when websockets' parser is not laid out as it expects, every frame
goes through websockets' own parser (said once), and the SDK and the relay still work."""

from __future__ import annotations

from fastpath_helpers import converse, fastpath_warnings, relay_call_answered
from websockets.streams import StreamReader

from liveguard.fastpath.ws_reader import WS_READER


async def test_on_by_default_frames_are_cut_by_the_fast_reader(emulator) -> None:
    assert WS_READER.usable()
    talk = await converse(emulator)
    assert talk.stats.frames_fast_read > 0
    assert talk.stats.audio_bytes_received == talk.sent_bytes


def _wrap_at_eof(monkeypatch) -> None:
    """A websockets whose parser waits one generator deeper: it works, the layout differs."""
    original = StreamReader.at_eof

    def at_eof(self):
        return (yield from original(self))

    monkeypatch.setattr(StreamReader, "at_eof", at_eof)


async def test_another_parser_layout_leaves_every_frame_to_websockets_and_says_so_once(
    emulator, relay, monkeypatch, caplog
) -> None:
    _wrap_at_eof(monkeypatch)
    caplog.set_level("WARNING", logger="liveguard.fastpath")

    talk = await converse(emulator)
    assert talk.stats.frames_fast_read == 0  # websockets' parser read every frame
    assert talk.stats.audio_bytes_received == talk.sent_bytes
    assert talk.audio_chunks > 0

    await relay_call_answered(relay)
    assert all(s.frames_fast_read == 0 for s in emulator.sessions)
    (warning,) = fastpath_warnings(caplog, "ws-reader")
    assert "StreamReader.at_eof()" in warning and "protocol.receive_data" in warning
