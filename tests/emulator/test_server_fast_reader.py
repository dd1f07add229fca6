"""The fast frame reader gives what websockets' own parser gives, byte stream for byte stream.

Each case sends one hand-built stream of client frames after setup (well-formed audio, pings,
fragmented messages, and every kind of protocol violation), cut into TLS writes in several ways, to
two emulators: one with the fast reader and one with `fast_reader=False` (every frame through
websockets). What the client sees (the close code and reason) and what the server recorded (frames,
bytes, audio reaching the model, pings, how the session ended) must be the same.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random

import pytest
from test_server_wire_rules import SETUP, expect_close, raw
from websockets.frames import apply_mask

from liveguard.emulator.server import Emulator

TEXT, BINARY, CONT, PING, PONG, CLOSE = 0x1, 0x2, 0x0, 0x9, 0xA, 0x8
MAX_FRAME = 64 * 1024


def ws_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    length_form: int | None = None,
) -> bytes:
    """One client frame as bytes; `length_form` 7/16/64 forces a length encoding."""
    n = len(payload)
    form = length_form or (7 if n < 126 else 16 if n < 65536 else 64)
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    mbit = 0x80 if mask else 0
    if form == 7:
        head += bytes([mbit | n])
    elif form == 16:
        head += bytes([mbit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mbit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = random.Random(n).randbytes(4)
    return head + key + apply_mask(payload, key)


def audio_json(i: int) -> bytes:
    """The SDK's audio frame (20 ms of 16 kHz PCM16), as google-genai serialises it."""
    pcm = random.Random(i).randbytes(640)
    data = base64.urlsafe_b64encode(pcm).decode()
    return json.dumps(
        {"realtime_input": {"audio": {"data": data, "mime_type": "audio/pcm;rate=16000"}}}
    ).encode()


def audio(i: int, opcode: int = TEXT, **kw) -> bytes:
    return ws_frame(opcode, audio_json(i), **kw)


def close(code: int = 1000, reason: bytes = b"bye") -> bytes:
    return ws_frame(CLOSE, code.to_bytes(2, "big") + reason)


def fragmented(opcode: int, payload: bytes, between: bytes = b"") -> list[bytes]:
    third = len(payload) // 3
    return [
        ws_frame(opcode, payload[:third], fin=False),
        between,
        ws_frame(CONT, payload[third : 2 * third], fin=False),
        ws_frame(CONT, payload[2 * third :]),
    ]


def audio_run(start: int, count: int = 5) -> list[bytes]:
    return [audio(i) for i in range(start, start + count)]


#: name -> (frames after setup, expected close code seen by the client; None: no close frame)
CASES: dict[str, tuple[list[bytes], int | None]] = {
    "audio-then-close": (
        [*audio_run(0, 30), *(audio(i, BINARY) for i in range(3)), close()],
        1000,
    ),
    "pings-and-pongs-between-audio": (
        [
            *audio_run(0),
            ws_frame(PING, b"p1"),
            *audio_run(5),
            ws_frame(PONG, b"unsolicited"),
            ws_frame(PING, b"x" * 125),
            *audio_run(10),
            close(),
        ],
        1000,
    ),
    "fragmented-text-with-a-ping-inside": (
        [
            *audio_run(0),
            *fragmented(TEXT, audio_json(99), ws_frame(PING, b"mid")),
            *audio_run(5),
            close(),
        ],
        1000,
    ),
    "fragmented-binary": (
        [*audio_run(0), *fragmented(BINARY, audio_json(98)), *audio_run(5), close()],
        1000,
    ),
    "non-minimal-lengths": (
        [
            audio(1, length_form=64),
            audio(2, length_form=16),
            ws_frame(TEXT, b'{"realtime_input": {"audioStreamEnd": true}}', length_form=16),
            ws_frame(PING, b"", length_form=7),
            *audio_run(3),
            close(),
        ],
        1000,
    ),
    "other-realtime-messages": (
        [
            *audio_run(0),
            ws_frame(
                TEXT, b'{"realtimeInput": {"audio": {"data": "AAA", "mimeType": "audio/pcm"}}}'
            ),
            ws_frame(TEXT, b'{"realtime_input":{"audio":{"data":"AAAA","mime_type":"audio/pcm"}}}'),
            ws_frame(TEXT, b'{"realtime_input": {"text": "hello"}}'),
            *audio_run(5),
            close(),
        ],
        1000,
    ),
    "data-after-the-close-frame-is-discarded": (
        [*audio_run(0), close(), *audio_run(5)],
        1000,
    ),
    "bad-utf8-text": ([*audio_run(0), ws_frame(TEXT, b'{"x": "\xff\xfe"}'), *audio_run(5)], 1007),
    "bad-json": ([*audio_run(0), ws_frame(TEXT, b"{not json"), *audio_run(5)], 1007),
    "bad-base64-in-the-sdk-layout": (
        [
            *audio_run(0),
            ws_frame(TEXT, b'{"realtime_input": {"audio": {"data": "A$A$", "mime_type": "a"}}}'),
        ],
        1007,
    ),
    "empty-frame": ([*audio_run(0), ws_frame(BINARY, b"")], 1007),
    "second-setup": ([*audio_run(0), ws_frame(TEXT, SETUP.encode()), *audio_run(5)], 1007),
    "unmasked": ([*audio_run(0), audio(7, mask=False), *audio_run(5)], 1002),
    "rsv1-set": ([*audio_run(0), audio(7, rsv=0x40), *audio_run(5)], 1002),
    "reserved-opcode": ([*audio_run(0), ws_frame(0x3, b"{}"), *audio_run(5)], 1002),
    "continuation-without-a-start": ([*audio_run(0), ws_frame(CONT, b"{}")], 1002),
    "new-message-inside-a-fragmented-one": (
        [*audio_run(0), ws_frame(TEXT, b'{"realtime', fin=False), audio(9)],
        1002,
    ),
    "control-frame-too-long": ([*audio_run(0), ws_frame(PING, b"x" * 126)], 1002),
    "fragmented-control-frame": ([*audio_run(0), ws_frame(PING, b"x", fin=False)], 1002),
    "oversized-frame-announced": (
        [*audio_run(0), ws_frame(BINARY, b"x" * (MAX_FRAME + 1))[:200]],
        1009,
    ),
    "oversized-64-bit-length": (
        [*audio_run(0), ws_frame(TEXT, b"x" * 10, length_form=64)[:2] + (2**62).to_bytes(8, "big")],
        1009,
    ),
    "partial-frame-then-abort": ([*audio_run(0), audio(8)[:300]], None),
}


def chunkings(stream: bytes, frames: list[bytes]) -> dict[str, list[bytes]]:
    """The same bytes cut into TLS writes: per frame, in one write, in small random pieces."""
    rng = random.Random(len(stream))
    pieces, pos = [], 0
    while pos < len(stream):
        step = rng.randint(1, 97)
        pieces.append(stream[pos : pos + step])
        pos += step
    return {"per-frame": [f for f in frames if f], "whole": [stream], "small-pieces": pieces}


async def run_stream(emu: Emulator, writes: list[bytes], expected: int | None) -> tuple:
    async with raw(emu) as ws:
        await ws.send(SETUP)
        await ws.recv()  # setupComplete: the pump runs from here on
        for chunk in writes:
            ws.transport.write(chunk)
            await asyncio.sleep(0.001)  # let the server read the writes one by one
        if expected is None:
            ws.transport.abort()
            seen = None
        else:
            seen = await expect_close(ws)
            assert seen[0] == expected
    stats = (await emu.wait_closed_sessions())[-1]
    model = stats.model_stats
    return (
        seen,
        stats.frames_received,
        stats.bytes_received,
        stats.pings_received,
        stats.close_code,
        stats.close_reason,
        stats.close_side,
        stats.error,
        model.frames_received,
        model.audio_frames_received,
        model.audio_bytes_received,
        model.text_inputs,
    ), stats.frames_fast_read


@pytest.mark.parametrize("name", list(CASES))
async def test_fast_reader_matches_websockets_parser(emulator_factory, name: str) -> None:
    frames, expected = CASES[name]
    fast = await emulator_factory(max_frame_bytes=MAX_FRAME)
    slow = await emulator_factory(max_frame_bytes=MAX_FRAME, fast_reader=False)
    for how, writes in chunkings(b"".join(frames), frames).items():
        want, slow_fast_reads = await run_stream(slow, writes, expected)
        got, fast_reads = await run_stream(fast, writes, expected)
        assert got == want, how
        assert slow_fast_reads == 0
        assert fast_reads > 0, how  # every case starts with audio the fast reader takes


async def test_sdk_audio_goes_through_the_fast_reader(emulator: Emulator) -> None:
    """The real SDK's audio frames take the fast path and reach the model byte for byte."""
    from google.genai import types

    pcm = random.Random(5).randbytes(640)
    async with emulator.client().aio.live.connect(
        model="gemini-2.5-flash-native-audio-preview-12-2025",
        config=types.LiveConnectConfig(response_modalities=["AUDIO"]),
    ) as session:
        for _ in range(20):
            await session.send_realtime_input(
                audio=types.Blob(data=pcm, mime_type="audio/pcm;rate=16000")
            )
        await asyncio.sleep(0.2)
    stats = (await emulator.wait_closed_sessions())[0]
    assert stats.error is None
    assert stats.frames_fast_read == 20
    assert stats.audio_frames_received == 20 and stats.audio_bytes_received == 20 * 640
