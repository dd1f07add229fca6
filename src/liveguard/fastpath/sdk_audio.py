"""Shortcut: caller audio written as the SDK's own frame straight onto its websocket's transport,
instead of `AsyncSession.send_realtime_input(audio=...)` (the reference path).

Why: a call is 50 caller frames a second. The SDK validates a pydantic model, runs converters and
`json.dumps` per frame, and websockets' `send` takes a lock, a state machine and a drain; the
frame on the wire is the same either way.

- `audio_frame`: the exact text frame of `send_realtime_input(audio=Blob(...))` (Gemini API).
- `masked_text_frame`: that text as one masked WebSocket frame (RFC 6455 §5.2).
- `audio_writer(session, ws)`: the ONE writer a connection's caller audio takes, decided when it
  opens: `LeanAudioWriter` (this shortcut) or `SdkAudioWriter` (the reference path).

Relies on: the SDK writing exactly `audio_frame(...)` for an audio blob, probed once by running
the SDK's `send_realtime_input` against a recorder; and the socket (`sdk_socket`).
"""

from __future__ import annotations

import base64
import os
from functools import cache
from typing import Any, Protocol

from google.genai import types
from websockets.protocol import State
from websockets.speedups import apply_mask

from liveguard.fastpath.seam import Shortcut
from liveguard.fastpath.wsframe import FIN_TEXT, frame_header

__all__ = [
    "SDK_AUDIO",
    "AudioWriter",
    "LeanAudioWriter",
    "SdkAudioWriter",
    "audio_frame",
    "audio_mime",
    "audio_writer",
    "masked_text_frame",
]

_OPEN = State.OPEN


def audio_mime(rate: int) -> str:
    """The MIME type of PCM16 audio at `rate` (the service resamples whatever rate is declared)."""
    return f"audio/pcm;rate={rate}"


@cache
def _audio_template(rate: int) -> tuple[str, str]:
    head = '{"realtime_input": {"audio": {"data": "'
    return head, '", "mime_type": "' + audio_mime(rate) + '"}}}'


def audio_frame(pcm: bytes, rate: int = 16000) -> str:
    """The exact text frame `send_realtime_input(audio=Blob(data=pcm, mime_type=audio_mime(rate)))`
    writes for a Gemini API (not Vertex) client: `json.dumps` of the converted dict, bytes as
    URL-safe base64."""
    head, tail = _audio_template(rate)
    return head + base64.urlsafe_b64encode(pcm).decode("ascii") + tail


def masked_text_frame(text: str) -> bytes:
    """`text` as one final, masked WebSocket text frame (what a client must send)."""
    payload = text.encode("utf-8")
    mask = os.urandom(4)
    return frame_header(FIN_TEXT, len(payload), masked=True) + mask + apply_mask(payload, mask)


class _Recorder:
    """Stands in for the SDK's websocket: keeps what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, data: Any) -> None:
        self.sent.append(data)


def sdk_audio_text(pcm: bytes, rate: int) -> str | None:
    """What the installed SDK sends for one audio blob (None: not one text frame, at once)."""
    from google.genai.live import AsyncSession

    rec = _Recorder()
    api = type("Api", (), {"vertexai": False})()  # the only client attribute this path reads
    session = AsyncSession(api_client=api, websocket=rec)  # type: ignore[arg-type]
    coro = session.send_realtime_input(audio=types.Blob(data=pcm, mime_type=audio_mime(rate)))
    try:
        coro.send(None)  # the recorder never suspends: the send completes in one step
    except StopIteration:
        pass
    else:
        coro.close()
        return None
    return rec.sent[0] if len(rec.sent) == 1 and isinstance(rec.sent[0], str) else None


def _probe() -> str | None:
    pcm = b"\x00\x01\xff\xfb\xff\xbf\x10\x80"  # its base64 needs '-' and '_' in the URL-safe set
    for rate in (8000, 16000):
        if sdk_audio_text(pcm, rate) != audio_frame(pcm, rate):
            return "send_realtime_input(audio=...) no longer writes the frame audio_frame() makes"
    return None


SDK_AUDIO = Shortcut("sdk-audio", _probe, "AsyncSession.send_realtime_input(audio=...)")


class AudioWriter(Protocol):
    """How one connection's caller audio reaches the upstream socket."""

    lean: bool

    def try_write(self, pcm: bytes, rate: int) -> bool:
        """Write now without waiting; False when that is not possible (then call `write`)."""
        ...

    async def write(self, pcm: bytes, rate: int) -> None:
        """Write, waiting while the socket is backed up; raises when it is closed."""
        ...


class LeanAudioWriter:
    """The SDK's audio frame, masked, written on its websocket's transport."""

    lean = True

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    def try_write(self, pcm: bytes, rate: int) -> bool:
        """Now, when the socket is open and its buffer below websockets' high-water mark: the
        frame websockets would write, without its lock, drain and state machine."""
        ws = self._ws
        transport = ws.transport
        if (
            ws.protocol.state is not _OPEN
            or transport.is_closing()
            or transport.get_write_buffer_size() >= ws.write_limit_high
        ):
            return False
        transport.write(masked_text_frame(audio_frame(pcm, rate)))
        return True

    async def write(self, pcm: bytes, rate: int) -> None:
        """Now if possible, else the same frame through websockets' `send` (waits for the
        buffer to drain, raises `ConnectionClosed` when the socket is closed)."""
        if not self.try_write(pcm, rate):
            await self._ws.send(audio_frame(pcm, rate))


class SdkAudioWriter:
    """The reference path: `send_realtime_input(audio=Blob(...))`, always awaited."""

    lean = False

    def __init__(self, session: Any) -> None:
        self._session = session

    def try_write(self, pcm: bytes, rate: int) -> bool:
        return False

    async def write(self, pcm: bytes, rate: int) -> None:
        blob = types.Blob(data=pcm, mime_type=audio_mime(rate))
        await self._session.send_realtime_input(audio=blob)


def audio_writer(session: Any, ws: Any | None) -> AudioWriter:
    """The writer for a connection's caller audio, decided once when it opens: lean when the
    SDK's socket is usable (`ws`, from `sdk_socket.lean_socket`) and the frame probe passed."""
    if ws is not None and SDK_AUDIO.usable():
        return LeanAudioWriter(ws)
    return SdkAudioWriter(session)
