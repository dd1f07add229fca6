"""Shortcut: model audio parsed with `json.loads` + base64, other server messages through the SDK's
private converter, instead of `AsyncSession.receive()` (the reference path).

Why: a call hears a model audio chunk every 40 ms or so. The SDK parses each with pydantic models,
converters and dict walks (about 100 µs per chunk, against 12 µs for `json.loads` + base64).

- `parse_server_message`: raw server JSON -> `ModelAudioChunk` when the message is nothing but
  model audio parts, else the SDK's own `LiveServerMessage` (the same conversion
  `AsyncSession._receive` does, errors included, through `google.genai._live_converters`).

Relies on: `google.genai._live_converters._LiveServerMessage_from_mldev` and
`types.LiveServerMessage._from_response`, probed once (an audio message must come out as the SDK
means it); without them the connection reads with `AsyncSession.receive()`.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
from dataclasses import dataclass
from typing import Any

from google.genai import errors, types

from liveguard.fastpath.seam import Shortcut

__all__ = [
    "SDK_PARSE",
    "ModelAudioChunk",
    "parse_server_message",
    "sdk_server_message",
]

_CONVERTERS = "google.genai._live_converters"


@dataclass(frozen=True, slots=True)
class ModelAudioChunk:
    """A server message that carried only model audio: its parts' PCM and MIME types, in order."""

    parts: tuple[tuple[bytes, str], ...]


_EMPTY_KWARGS: dict[str, Any] | None = None
_converters: Any = None  # the SDK's converter module, imported on first use (it may be gone)


def sdk_server_message(response: dict, *, vertex: bool = False) -> types.LiveServerMessage:
    """What `AsyncSession.receive()` makes of one decoded server message (errors included)."""
    global _EMPTY_KWARGS, _converters
    if _EMPTY_KWARGS is None:
        _EMPTY_KWARGS = types.LiveServerMessage().model_dump()
    converters = _converters
    if converters is None:
        converters = _converters = importlib.import_module(_CONVERTERS)
    if vertex:
        converted = converters._LiveServerMessage_from_vertex(response)
    else:
        converted = converters._LiveServerMessage_from_mldev(response)
    if not converted and response:
        errors.APIError.raise_error(response.get("code"), response, None)
    return types.LiveServerMessage._from_response(response=converted, kwargs=dict(_EMPTY_KWARGS))


def _probe() -> str | None:
    try:
        converters = importlib.import_module(_CONVERTERS)
    except ImportError as exc:
        return f"{_CONVERTERS} cannot be imported ({exc})"
    if not callable(getattr(converters, "_LiveServerMessage_from_mldev", None)):
        return f"{_CONVERTERS}._LiveServerMessage_from_mldev is missing"
    if not callable(getattr(types.LiveServerMessage, "_from_response", None)):
        return "types.LiveServerMessage._from_response is missing"
    pcm = b"\x01\x02\x03\x04"
    raw = {
        "serverContent": {
            "modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm", "data": "AQIDBA=="}}]}
        }
    }
    msg = sdk_server_message(raw)
    blob = msg.server_content.model_turn.parts[0].inline_data  # type: ignore[union-attr,index]
    if blob is None or blob.data != pcm or blob.mime_type != "audio/pcm":
        return "the SDK's converter no longer reads a model audio message as before"
    return None


SDK_PARSE = Shortcut("sdk-parse", _probe, "AsyncSession.receive()")


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
