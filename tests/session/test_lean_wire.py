"""The lean wire: byte-identical to the SDK's audio frame, the same meaning as the SDK's parse of
every server message, and accepted end to end by the emulator over TLS."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from google.genai import types
from google.genai.live import AsyncSession
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from liveguard.audio.clips import load_clip
from liveguard.emulator.server import Emulator
from liveguard.fastpath.sdk_audio import audio_frame, audio_mime, masked_text_frame
from liveguard.fastpath.sdk_parse import ModelAudioChunk, parse_server_message, sdk_server_message
from liveguard.session.translate import MessageTranslator
from liveguard.session.upstream import UpstreamConnection

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"


class _Recorder:
    """Stands in for the websocket under the SDK's AsyncSession: keeps what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, data: str) -> None:
        self.sent.append(data)


def _sdk_frame(pcm: bytes, rate: int) -> str:
    """What the installed SDK writes for `send_realtime_input(audio=Blob(pcm))`."""
    rec = _Recorder()
    api = type("Api", (), {"vertexai": False})()  # the only client attribute this path reads
    session = AsyncSession(api_client=api, websocket=rec)  # type: ignore[arg-type]
    blob = types.Blob(data=pcm, mime_type=audio_mime(rate))
    asyncio.run(session.send_realtime_input(audio=blob))
    assert len(rec.sent) == 1
    return rec.sent[0]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=4000).map(lambda b: b[: len(b) // 2 * 2]), st.sampled_from([8000, 16000]))
def test_audio_frame_is_byte_identical_to_the_sdk(pcm: bytes, rate: int) -> None:
    assert audio_frame(pcm, rate) == _sdk_frame(pcm, rate)


def test_audio_frame_real_speech_and_url_safe_alphabet() -> None:
    pcm = load_clip("check_order", 8000).pcm[:320]
    pcm = pcm + b"\xff\xfb\xff\xbf" * 8  # bytes whose base64 needs '-' / '_' in the URL-safe set
    frame = audio_frame(pcm, 8000)
    assert frame == _sdk_frame(pcm, 8000)
    assert ("_" in frame or "-" in frame) and "audio/pcm;rate=8000" in frame


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=70000))
def test_masked_text_frame_is_what_a_websocket_server_reads(text: str) -> None:
    reader = StreamReader()
    reader.feed_data(masked_text_frame(text))
    parser = Frame.parse(reader.read_exact, mask=True)  # a server requires masked frames
    with pytest.raises(StopIteration) as done:
        next(parser)
    frame = done.value.value
    assert frame.opcode is Opcode.TEXT and frame.fin
    assert frame.data.decode("utf-8") == text


def _audio_message(parts: list[tuple[bytes, str]], urlsafe: bool = False) -> str:
    enc = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return json.dumps(
        {
            "serverContent": {
                "modelTurn": {
                    "parts": [
                        {"inlineData": {"mimeType": mime, "data": enc(pcm).decode()}}
                        for pcm, mime in parts
                    ]
                }
            }
        }
    )


def _events(raw: str | bytes, *, lean: bool) -> list:
    """What the session's translator makes of one raw message, by either parser."""
    msg = parse_server_message(raw) if lean else sdk_server_message(json.loads(raw))
    tr = MessageTranslator().translate(msg, 1.5)
    return [*tr.events, *((a.pcm, a.rate) for a in tr.audio)]


_pcm = st.binary(min_size=2, max_size=3000)
_mime = st.sampled_from(["audio/pcm;rate=24000", "audio/pcm;rate=16000", "audio/pcm"])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(_pcm, _mime), min_size=1, max_size=3), st.booleans())
def test_audio_messages_take_the_lean_path_and_mean_what_the_sdk_says(parts, urlsafe) -> None:
    raw = _audio_message(parts, urlsafe)
    assert isinstance(parse_server_message(raw), ModelAudioChunk)
    assert _events(raw, lean=True) == _events(raw, lean=False)


@pytest.mark.parametrize(
    "message",
    [
        {"setupComplete": {}},
        {"serverContent": {"turnComplete": True}},
        {"serverContent": {"modelTurn": {"parts": [{"text": "hi"}]}}},
        {
            "serverContent": {
                "modelTurn": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}
            }
        },
        {
            "serverContent": {
                "modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm", "data": "AAAA"}}]},
                "interrupted": True,
            }
        },
        {
            "serverContent": {
                "modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm", "data": "AAAA"}}]}
            },
            "usageMetadata": {"totalTokenCount": 3},
        },
        {
            "serverContent": {
                "modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm", "data": ""}}]}
            }
        },
        {"goAway": {"timeLeft": "5s"}},
    ],
)
def test_anything_else_is_the_sdks_message(message: dict) -> None:
    raw = json.dumps(message)
    assert isinstance(parse_server_message(raw), types.LiveServerMessage)
    assert _events(raw, lean=True) == _events(raw, lean=False)


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        _audio_message([(b"\x01\x02\x03\x04", "audio/pcm")]).replace("AQIDBA==", "AQIDB"),
        json.dumps({"error": "x"}),
    ],
)
def test_bad_server_messages_fail_as_the_sdk_fails(raw) -> None:
    with pytest.raises(Exception) as lean:
        parse_server_message(raw)
    try:
        response = json.loads(raw)
    except json.JSONDecodeError:
        assert isinstance(lean.value, ValueError) and "Failed to parse" in str(lean.value)
        return
    with pytest.raises(Exception) as sdk:
        sdk_server_message(response)
    assert type(lean.value) is type(sdk.value)


@contextlib.asynccontextmanager
async def _upstream() -> AsyncIterator[tuple[Emulator, UpstreamConnection]]:
    """An open connection to a healthy emulator that took the lean wire."""
    async with Emulator(scenario="healthy") as emu:
        up = UpstreamConnection(
            emu.client(), MODEL, types.LiveConnectConfig(response_modalities=["AUDIO"])
        )
        await up.open()
        try:
            assert up.lean  # the Gemini API client takes the lean path
            yield emu, up
        finally:
            await up.close()


async def test_every_message_of_a_real_conversation_means_the_same_by_both_parsers() -> None:
    async with _upstream() as (_, up):
        await up.send_text("Hello there")
        raws: list[bytes] = []
        async with asyncio.timeout(20):
            while True:
                raws.append(await up._ws.recv(decode=False))
                if b"turnComplete" in raws[-1]:
                    break
    lean_tr, sdk_tr = MessageTranslator(), MessageTranslator()
    audio = 0
    for raw in raws:
        msg = parse_server_message(raw)
        audio += isinstance(msg, ModelAudioChunk)
        a = lean_tr.translate(msg, 1.0)
        b = sdk_tr.translate(sdk_server_message(json.loads(raw)), 1.0)
        assert a.events == b.events
        assert [(p.pcm, p.rate) for p in a.audio] == [(p.pcm, p.rate) for p in b.audio]
    assert audio >= 5  # the reply's audio took the lean path


async def test_lean_path_is_used_and_the_emulator_receives_every_byte_at_8k() -> None:
    async with _upstream() as (emu, up):
        pcm = load_clip("check_order", 8000).pcm
        frames = [pcm[i : i + 320] for i in range(0, 320 * 50, 320)]
        for f in frames:
            await up.send_audio(f, 8000)
        await up.send_text("hello")  # the SDK path still works on the same socket
        expected = sum(len(f) for f in frames)
        for _ in range(200):
            if emu.sessions[-1].audio_bytes_received >= expected:
                break
            await asyncio.sleep(0.01)
        assert emu.sessions[-1].audio_bytes_received == expected
