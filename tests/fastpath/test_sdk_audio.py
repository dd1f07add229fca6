"""The caller-audio shortcut: one writer per connection, decided when it opens. An SDK that writes
its audio frame differently gets `send_realtime_input` (said once), and the relay and the emulator
still work."""

from __future__ import annotations

import functools
import json
import types as pytypes

from fastpath_helpers import converse, fastpath_warnings, relay_call_answered
from google.genai import live

from liveguard.fastpath.sdk_audio import SDK_AUDIO, audio_frame, sdk_audio_text


def test_the_installed_sdk_writes_the_lean_frame() -> None:
    assert SDK_AUDIO.usable()
    pcm = bytes(range(256)) * 3
    assert sdk_audio_text(pcm, 8000) == audio_frame(pcm, 8000)


async def test_on_by_default_caller_audio_is_written_now(emulator) -> None:
    talk = await converse(emulator)
    assert talk.lean and talk.written_now == 25  # every frame offered to try_send_audio
    assert talk.stats.audio_bytes_received == talk.sent_bytes


def _compact_sdk_json(monkeypatch) -> None:
    """An SDK that serialises its messages without spaces: still valid, another frame."""
    compact = pytypes.SimpleNamespace(
        dumps=functools.partial(json.dumps, separators=(",", ":")),
        loads=json.loads,
        decoder=json.decoder,
    )
    monkeypatch.setattr(live, "json", compact)


async def test_another_sdk_frame_takes_send_realtime_input_and_it_is_said_once(
    emulator, relay, monkeypatch, caplog
) -> None:
    _compact_sdk_json(monkeypatch)
    caplog.set_level("WARNING", logger="liveguard.fastpath")

    talk = await converse(emulator)
    assert not talk.lean and talk.lean_read  # reading keeps the lean wire
    assert talk.written_now == 0  # the SDK's writer never writes "now"
    assert talk.stats.audio_bytes_received == talk.sent_bytes

    await relay_call_answered(relay)
    (warning,) = fastpath_warnings(caplog, "sdk-audio")
    assert "audio_frame()" in warning and "send_realtime_input(audio=...)" in warning
