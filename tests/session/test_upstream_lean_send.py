"""The lean upstream audio path: byte-identical to the SDK's own frame, and accepted end to end."""

from __future__ import annotations

import asyncio

from google.genai import types
from google.genai.live import AsyncSession
from hypothesis import given, settings
from hypothesis import strategies as st

from liveguard.audio.clips import load_clip
from liveguard.emulator.server import Emulator
from liveguard.session.upstream import AUDIO_MIME, UpstreamConnection, audio_frame

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"


class _Recorder:
    """Stands in for the websocket under the SDK's AsyncSession: keeps what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, data: str) -> None:
        self.sent.append(data)


def _sdk_frame(pcm: bytes, *, vertexai: bool = False) -> str:
    """What the installed SDK writes for `send_realtime_input(audio=Blob(pcm))`."""
    rec = _Recorder()
    api = type("Api", (), {"vertexai": vertexai})()  # the only client attribute this path reads
    session = AsyncSession(api_client=api, websocket=rec)  # type: ignore[arg-type]
    asyncio.run(session.send_realtime_input(audio=types.Blob(data=pcm, mime_type=AUDIO_MIME)))
    assert len(rec.sent) == 1
    return rec.sent[0]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=4000).map(lambda b: b[: len(b) // 2 * 2]))
def test_audio_frame_is_byte_identical_to_the_sdk(pcm: bytes) -> None:
    assert audio_frame(pcm) == _sdk_frame(pcm)


def test_audio_frame_real_speech_and_url_safe_alphabet() -> None:
    pcm = load_clip("check_order", 16000).pcm[:640]
    pcm = pcm + b"\xff\xfb\xff\xbf" * 8  # bytes whose base64 needs '-' / '_' in the URL-safe set
    frame = audio_frame(pcm)
    assert frame == _sdk_frame(pcm)
    assert "_" in frame or "-" in frame


async def test_lean_path_is_used_and_the_emulator_receives_every_byte() -> None:
    async with Emulator(scenario="healthy") as emu:
        client = emu.client()
        up = UpstreamConnection(
            client, MODEL, types.LiveConnectConfig(response_modalities=["AUDIO"])
        )
        await up.open()
        try:
            assert up._raw_send is not None  # the Gemini API client takes the lean path
            pcm = load_clip("check_order", 16000).pcm
            frames = [pcm[i : i + 640] for i in range(0, 640 * 50, 640)]
            for f in frames:
                await up.send_audio(f)
            await up.send_text("hello")  # the SDK path still works on the same socket
            expected = sum(len(f) for f in frames)
            for _ in range(200):
                stats = emu.sessions[-1]
                if stats.audio_bytes_received >= expected:
                    break
                await asyncio.sleep(0.01)
            assert emu.sessions[-1].audio_bytes_received == expected
        finally:
            await up.close()
