"""The talk page in Debian's headless chromium: a fake microphone speaks a shipped clip through the
AudioWorklet, the relay carries it to the emulator, and the page hears and shows the reply."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from headless import CHROMIUM, browse
from liveguard.audio.clips import clip_text, load_clip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed"),
]


def write_mic_wav(path: Path, clip: str) -> None:
    """Silence (while the greeting plays), the utterance, then silence for the answer."""
    pcm = load_clip(clip, 16000).pcm
    silence = b"\x00\x00" * 16000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(silence * 4 + pcm + silence * 6)


async def test_page_talks_through_the_microphone_and_hears_the_reply(relay, tmp_path: Path) -> None:
    wav = tmp_path / "mic.wav"
    write_mic_wav(wav, "opening_hours")
    seen = await browse("talk", relay.base_url + "/?processing=off", str(wav))
    assert seen["title"] == "liveguard — talk"
    assert not seen["console_errors"], seen["console_errors"]
    state = seen["state"]
    assert state["status"] == "connected" and state["framesSent"] > 100
    caller = " ".join(t["text"] for t in state["transcripts"] if t["role"] == "caller")
    assert clip_text("opening_hours").lower().rstrip("?") in caller.lower()
    seconds_received = state["audioBytesReceived"] / 2 / 24000
    assert seconds_received > 3.0  # greeting and answer, 24 kHz PCM16
    assert state["playedSeconds"] > 0  # the playback worklet really played it
    assert "You:" in seen["shown"] and "Model:" in seen["shown"]


async def test_page_reconnects_by_itself_and_resumes(relay, tmp_path: Path) -> None:
    wav = tmp_path / "mic.wav"
    write_mic_wav(wav, "opening_hours")
    dropped: list[str] = []

    def on_line(line: dict) -> None:
        if "connected" in line:  # the relay goes away under the page (a restart, a deploy)
            for call in list(relay.ctx.calls.values()):
                call.stop("relay restarting")
                dropped.append(call.call_id)

    seen = await browse("reconnect", relay.base_url + "/?processing=off", str(wav), on_line=on_line)
    assert dropped == [seen["first"]["session"]]
    state = seen["state"]
    assert state["closeCode"] == 1001 and state["reconnects"] == 1
    assert state["resumed"] is True and state["resume"] == seen["first"]["resume"]
    assert state["session"] != seen["first"]["session"]  # a new call, the same conversation
    assert "the conversation goes on" in seen["shown"]
