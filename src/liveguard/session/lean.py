"""The lean wire: the two per-frame messages of a call, without the SDK's per-message machinery.

Why: a call is 50 caller frames a second up and a model audio chunk every 40 ms or so down. The
SDK handles each with pydantic models, converters and dict walks (about 100 µs to parse one audio
chunk, against 12 µs for `json.loads` + base64) and sends through websockets' general send path.
Everything else a session says or hears (setup, text, activity signals, tool calls, transcripts,
turn boundaries, resumption, goAway) still goes through the SDK; only the two shapes below take the
short way, and tests check they stay identical to what the installed SDK sends and parses.

- `audio_frame`: the exact text frame of `send_realtime_input(audio=Blob(...))` (Gemini API).
- `masked_text_frame`: that text as one masked WebSocket frame (RFC 6455 §5.2), ready for the
  transport; websockets writes the same bytes, with a lock, a state machine and a drain around it.
- `parse_server_message`: raw server JSON -> `ModelAudioChunk` when the message is nothing but
  model audio parts, else the SDK's own `LiveServerMessage` (the same conversion `AsyncSession`
  does, errors included).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from google.genai import _live_converters, errors, types
from websockets.speedups import apply_mask

from liveguard.fastpath.wsframe import FIN_TEXT, frame_header

__all__ = [
    "ModelAudioChunk",
    "audio_frame",
    "audio_mime",
    "masked_text_frame",
    "parse_server_message",
    "sdk_server_message",
]


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


@dataclass(frozen=True, slots=True)
class ModelAudioChunk:
    """A server message that carried only model audio: its parts' PCM and MIME types, in order."""

    parts: tuple[tuple[bytes, str], ...]


_EMPTY_KWARGS: dict[str, Any] | None = None


def sdk_server_message(response: dict, *, vertex: bool = False) -> types.LiveServerMessage:
    """What `AsyncSession.receive()` makes of one decoded server message (errors included)."""
    global _EMPTY_KWARGS
    if _EMPTY_KWARGS is None:
        _EMPTY_KWARGS = types.LiveServerMessage().model_dump()
    if vertex:
        converted = _live_converters._LiveServerMessage_from_vertex(response)
    else:
        converted = _live_converters._LiveServerMessage_from_mldev(response)
    if not converted and response:
        errors.APIError.raise_error(response.get("code"), response, None)
    return types.LiveServerMessage._from_response(response=converted, kwargs=dict(_EMPTY_KWARGS))


def _audio_parts(response: Any) -> tuple[tuple[bytes, str], ...] | None:
    """The audio parts when `response` is exactly {serverContent: {modelTurn: {parts: [
    {inlineData: {mimeType: "audio/...", data: base64}}, ...]}}}; None for anything else."""
    if not isinstance(response, dict) or len(response) != 1:
        return None
    content = response.get("serverContent")
    if not isinstance(content, dict) or len(content) != 1:
        return None
    turn = content.get("modelTurn")
    if not isinstance(turn, dict) or len(turn) != 1:
        return None
    parts = turn.get("parts")
    if not isinstance(parts, list) or not parts:
        return None
    out = []
    for part in parts:
        if not isinstance(part, dict) or len(part) != 1:
            return None
        blob = part.get("inlineData")
        if not isinstance(blob, dict) or len(blob) != 2:
            return None
        mime, data = blob.get("mimeType"), blob.get("data")
        if not isinstance(mime, str) or not mime.startswith("audio/") or not isinstance(data, str):
            return None
        try:
            if "-" in data or "_" in data:
                pcm = base64.urlsafe_b64decode(data)
            else:
                pcm = binascii.a2b_base64(data, strict_mode=True)
        except (binascii.Error, ValueError):
            return None  # let the SDK say what it makes of it
        if not pcm:
            return None
        out.append((pcm, mime))
    return tuple(out)


def parse_server_message(
    raw: bytes | str, *, vertex: bool = False
) -> ModelAudioChunk | types.LiveServerMessage:
    """One raw server frame -> a `ModelAudioChunk` (the common case) or the SDK's message."""
    try:
        response = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        raise ValueError(f"Failed to parse response: {raw!r}") from None
    if not vertex:
        parts = _audio_parts(response)
        if parts is not None:
            return ModelAudioChunk(parts)
    return sdk_server_message(response, vertex=vertex)
