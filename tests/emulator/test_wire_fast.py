"""The fast paths of wire.py give exactly what the general code gives, or step aside.

`parse_sdk_audio` reads the SDK's audio frame from its bytes; `parse_client_frame` uses it (and a
dict-level shortcut) unless `fast=False`, which is the plain schema walk. Over generated frames,
well-formed and broken, the fast and the full parse must agree on the message or on the exact
WireError, and whatever `parse_sdk_audio` accepts must be ASCII (the pump skips the UTF-8 check
for it). The model's audio chunks are encoded byte for byte as the json module would, and the
server frame header is websockets' own.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_wire_parse import SDK_FRAMES
from websockets.frames import Frame, Opcode

from liveguard.emulator.wire import (
    ClientMessage,
    ServerFrameError,
    WireError,
    encode_server_message,
    parse_client_frame,
    parse_sdk_audio,
)
from liveguard.fastpath.wsframe import FIN_BINARY, frame_header

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MIMES_SDK = st.sampled_from(["audio/pcm;rate=16000", "audio/pcm;rate=24000", "audio/pcm", ""])
MIMES = st.one_of(
    MIMES_SDK,
    st.text(st.characters(codec="ascii"), max_size=24),  # quotes, backslashes, controls
    st.text(max_size=8),  # and beyond ASCII
)


def _b64(pcm: bytes, how: str) -> str:
    if how == "standard":
        return base64.b64encode(pcm).decode()
    if how == "unpadded":
        return base64.urlsafe_b64encode(pcm).decode().rstrip("=")
    if how == "extra-padding":
        return base64.urlsafe_b64encode(pcm).decode() + "="
    return base64.urlsafe_b64encode(pcm).decode()  # the SDK's


CHANGES = [
    "base64-standard",
    "base64-unpadded",
    "base64-extra-padding",
    "base64-odd-character",
    "mime-any-text",
    "camel-case-keys",
    "mime-first",
    "extra-field",
    "compact-json",
    "loose-json",
    "ascii-escapes",
    "byte-flip",
    "byte-insert",
    "byte-delete",
    "truncate",
    "append",
]


@st.composite
def audio_frames(draw: st.DrawFn) -> bytes:
    """The SDK's audio frame about half the time, else with one change that may or may not
    leave it valid (and may or may not leave it in the fast path's layout)."""
    change = draw(st.sampled_from(["none"] * len(CHANGES) + CHANGES))
    pcm = draw(st.binary(max_size=64))
    data = _b64(pcm, change.removeprefix("base64-") if change.startswith("base64") else "urlsafe")
    if change == "base64-odd-character":
        pos = draw(st.integers(0, len(data)))
        bad = draw(st.sampled_from(["=", "==", '"', "\\", " ", "\n", "é", "-", "_", "+", "/", "$"]))
        data = data[:pos] + bad + data[pos:]
    mime = draw(MIMES) if change == "mime-any-text" else draw(MIMES_SDK)
    top, mime_key = "realtime_input", "mime_type"
    if change == "camel-case-keys":
        top, mime_key = draw(st.sampled_from([(top, "mimeType"), ("realtimeInput", mime_key)]))
    blob = {"data": data, mime_key: mime}
    if change == "mime-first":
        blob = {mime_key: mime, "data": data}
    if change == "extra-field":
        blob["display_name"] = "x"
    separators = {"compact-json": (",", ":"), "loose-json": (" , ", " : ")}.get(change)
    text = json.dumps(
        {top: {"audio": blob}}, separators=separators, ensure_ascii=change == "ascii-escapes"
    )
    raw = text.encode("utf-8")
    i = draw(st.integers(0, len(raw) - 1))
    byte = bytes([draw(st.integers(0, 255))])
    return {
        "byte-flip": raw[:i] + byte + raw[i + 1 :],
        "byte-insert": raw[:i] + byte + raw[i:],
        "byte-delete": raw[:i] + raw[i + 1 :],
        "truncate": raw[:i],
        "append": raw + byte,
    }.get(change, raw)


def _outcome(data: str | bytes, *, fast: bool) -> tuple:
    try:
        msg = parse_client_frame(data, fast=fast)
    except WireError as exc:
        return ("error", exc.code, exc.reason)
    return ("ok", msg)


def _check(raw: bytes) -> None:
    full = _outcome(raw, fast=False)
    assert _outcome(raw, fast=True) == full
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:  # what a text frame becomes after the UTF-8 check
        assert _outcome(text, fast=True) == _outcome(text, fast=False) == full
    audio = parse_sdk_audio(raw)
    if audio is not None:
        assert raw.isascii()
        pcm, mime = audio
        expected = ClientMessage("realtime_input", {"audio": {"data": pcm, "mime_type": mime}})
        assert full == ("ok", expected)


@FAST
@given(audio_frames())
def test_fast_parse_equals_full_parse_on_audio_like_frames(raw: bytes) -> None:
    _check(raw)


@FAST
@given(st.sampled_from(SDK_FRAMES), st.integers(0, 10_000), st.binary(min_size=1, max_size=3))
def test_fast_parse_equals_full_parse_on_damaged_sdk_frames(frame: str, at: int, junk: bytes):
    raw = frame.encode()
    i = at % len(raw)
    _check(raw)
    _check(raw[:i] + junk + raw[i + 1 :])


def test_the_sdk_audio_frame_takes_the_fast_path() -> None:
    sdk = SDK_FRAMES[1].encode()  # captured verbatim from google-genai
    assert parse_sdk_audio(sdk) == (base64.urlsafe_b64decode("AQD___v_"), "audio/pcm;rate=16000")
    for n in (0, 1, 2, 3, 640, 641, 642):  # every padding length
        pcm = bytes(range(256)) * 3
        data = base64.urlsafe_b64encode(pcm[:n]).decode()
        frame = json.dumps(
            {"realtime_input": {"audio": {"data": data, "mime_type": "audio/pcm;rate=16000"}}}
        ).encode()
        assert parse_sdk_audio(frame) == (pcm[:n], "audio/pcm;rate=16000")
        _check(frame)


def test_anything_unusual_steps_aside() -> None:
    head = '{"realtime_input": {"audio": {"data": "'
    for frame in (
        head + 'AAA", "mime_type": "a"}}}',  # unpadded: the full path decodes it
        head + 'AAAA", "mime_type": "a\\"b"}}}',  # an escape in the mime type
        head + 'AAAA", "mime_type": "a"}} }',  # other spacing
        head + 'AAAA", "mime_type": "a"}}}\n',  # trailing whitespace
        head + 'AA$A", "mime_type": "a"}}}',  # not base64
        head + 'AAAA", "mime_type": "a", "x": 1}}}',  # another field
        head + 'AAAA", "mime_type": "é"}}}',  # not ASCII
    ):
        assert parse_sdk_audio(frame.encode()) is None
        _check(frame.encode())


def test_server_frame_header_is_what_websockets_writes() -> None:
    for n in (0, 1, 125, 126, 127, 1000, 65535, 65536, 70_000):
        data = bytes(n)
        expected = Frame(Opcode.BINARY, data).serialize(mask=False)
        assert frame_header(FIN_BINARY, n) + data == expected


def _generic_encode(msg: dict) -> bytes:
    """What encode_server_message writes, from the json module alone (the reference)."""

    def default(obj: object) -> str:
        assert isinstance(obj, bytes | bytearray)
        return base64.b64encode(bytes(obj)).decode()

    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False, default=default).encode()


@st.composite
def chunk_messages(draw: st.DrawFn) -> dict:
    """The model's audio chunk message, or one step away from its shape."""
    mime = draw(st.one_of(st.just("audio/pcm;rate=24000"), st.text(max_size=12)))
    data = draw(st.one_of(st.binary(max_size=300), st.just(bytearray(b"\x01\x02"))))
    blob: dict = {"mimeType": mime, "data": data}
    change = draw(st.sampled_from(["none", "none", "data-first", "extra", "text-data", "two"]))
    if change == "data-first":
        blob = {"data": data, "mimeType": mime}
    elif change == "extra":
        blob["displayName"] = "x"
    elif change == "text-data":
        blob["data"] = "not bytes"
    parts = [{"inlineData": blob}]
    if change == "two":
        parts.append({"text": "hi"})
    return {"serverContent": {"modelTurn": {"parts": parts}}}


@FAST
@given(chunk_messages())
def test_audio_chunk_encoding_is_the_generic_encoding(msg: dict) -> None:
    assert encode_server_message(msg) == _generic_encode(msg)
    assert encode_server_message(msg) == _generic_encode(msg)  # again, from the cache


def test_oversized_audio_chunk_is_still_refused() -> None:
    blob = {"mimeType": "audio/pcm", "data": bytes(800_000)}
    with pytest.raises(ServerFrameError):
        encode_server_message({"serverContent": {"modelTurn": {"parts": [{"inlineData": blob}]}}})
