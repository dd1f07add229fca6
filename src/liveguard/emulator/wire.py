"""The emulator's wire codec: client frames in, server frames out, the way the service does it.

Client frames are proto3 JSON. The service accepts both the lowerCamel JSON name and the snake_case
proto name of every field (the SDK mixes them in one frame), both base64 alphabets, padded or not,
and enum values in any case. It rejects unknown fields with 1007 and the reason text quoted in the
protocol spec §3/§10. To know *every* field without re-typing the API, the schema is derived once
from google-genai's own pydantic types (`LiveClientMessage` and everything it reaches): the SDK can
only put on the wire what those types hold, so a strict parser built from them never rejects valid
SDK output. Free-form maps (`args`, `response`, JSON-schema bodies, `labels`, property names) keep
their keys untouched.

Server frames are compact UTF-8 JSON sent as binary frames, each under 1 MiB, with only the
top-level keys the SDK knows (an unknown one crashes it, spec §0.8).
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import math
import re
import types as pytypes
import typing
from dataclasses import dataclass
from typing import Any, Union

import pydantic

__all__ = [
    "INVALID_ARGUMENT",
    "MAX_REASON_BYTES",
    "MAX_SERVER_FRAME_BYTES",
    "SCENARIO_HEADER",
    "SERVER_TOP_LEVEL_KEYS",
    "ClientMessage",
    "ServerFrameError",
    "WireError",
    "decode_base64",
    "encode_server_message",
    "parse_client_frame",
    "parse_sdk_audio",
    "truncate_reason",
]

MAX_REASON_BYTES = 123  # a close reason never exceeds this (RFC 6455 control-frame limit)
MAX_SERVER_FRAME_BYTES = 2**20  # the SDK's websockets client drops larger frames (1009 → 1006)

INVALID_ARGUMENT = "Request contains an invalid argument."
#: HTTP header on the WebSocket upgrade that picks a built-in scenario for one connection
SCENARIO_HEADER = "x-liveguard-scenario"

#: Top-level keys the SDK's `_LiveServerMessage_from_mldev` keeps (spec §5).
SERVER_TOP_LEVEL_KEYS = frozenset(
    {
        "setupComplete",
        "serverContent",
        "toolCall",
        "toolCallCancellation",
        "usageMetadata",
        "goAway",
        "sessionResumptionUpdate",
        "voiceActivityDetectionSignal",
        "voiceActivity",
    }
)


def truncate_reason(reason: str, limit: int = MAX_REASON_BYTES) -> str:
    """Cut `reason` to `limit` UTF-8 bytes without splitting a character, like the service."""
    raw = reason.encode("utf-8")
    if len(raw) <= limit:
        return reason
    return raw[:limit].decode("utf-8", errors="ignore")


class WireError(Exception):
    """A client frame the service would refuse; the server closes with (code, reason)."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = truncate_reason(reason)
        super().__init__(f"{code} {self.reason}")


class ServerFrameError(ValueError):
    """A server frame the SDK could not take (too large, or an unknown top-level key)."""


@dataclass(frozen=True, slots=True)
class ClientMessage:
    """One parsed client frame.

    `kind` is "setup" | "realtime_input" | "client_content" | "tool_response" | "context_update";
    `body` is that message with snake_case keys (opaque maps untouched), blob data as bytes and
    enum values upper-cased.
    """

    kind: str
    body: dict


# --------------------------------------------------------------------------- schema nodes


def _invalid(path: str, type_name: str, value: Any) -> WireError:
    shown = json.dumps(value, ensure_ascii=False, default=str)
    if len(shown) > 40:
        shown = shown[:40] + "…"
    return WireError(
        1007, f"Invalid JSON payload received. Invalid value at '{path}' ({type_name}), {shown}"
    )


class _Node:
    """A field type; `parse` returns the normalised value or raises WireError."""

    __slots__ = ()

    def parse(self, value: Any, path: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class _Opaque(_Node):
    """google.protobuf.Value / Any: user data, kept verbatim."""

    __slots__ = ()

    def parse(self, value: Any, path: str) -> Any:
        return value


class _Str(_Node):
    __slots__ = ()

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise _invalid(path, "TYPE_STRING", value)
        return value


class _Bool(_Node):
    __slots__ = ()

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            raise _invalid(path, "TYPE_BOOL", value)
        return value


class _Int(_Node):
    """proto3 JSON: a number without fraction, or a decimal string (int64 encoders emit those)."""

    __slots__ = ()

    def parse(self, value: Any, path: str) -> Any:
        if isinstance(value, bool):
            raise _invalid(path, "TYPE_INT32", value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value):
            return int(value)
        raise _invalid(path, "TYPE_INT32", value)


class _Float(_Node):
    __slots__ = ()

    _SPECIAL: typing.ClassVar[dict[str, float]] = {
        "NaN": math.nan,
        "Infinity": math.inf,
        "-Infinity": -math.inf,
    }

    def parse(self, value: Any, path: str) -> Any:
        if isinstance(value, bool):
            raise _invalid(path, "TYPE_FLOAT", value)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            if value in self._SPECIAL:
                return self._SPECIAL[value]
            try:
                return float(value)
            except ValueError:
                pass
        raise _invalid(path, "TYPE_FLOAT", value)


def decode_base64(text: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not; raise ValueError on anything else."""
    s = text.replace("-", "+").replace("_", "/")  # str.replace is far cheaper than translate
    if "=" in s:
        s = s.rstrip("=")
    if len(s) % 4 == 1:
        raise ValueError("truncated base64")
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


class _Bytes(_Node):
    __slots__ = ()

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise _invalid(path, "TYPE_BYTES", value)
        try:
            return decode_base64(value)
        except ValueError:
            shown = value if len(value) <= 24 else value[:24] + "…"
            raise WireError(
                1007,
                "Invalid JSON payload received. Invalid value at "
                f"'{path}' (TYPE_BYTES), Base64 decoding failed for \"{shown}\"",
            ) from None


class _Enum(_Node):
    """Enum names compare case-insensitively on the service; we upper-case them."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def parse(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            return value.upper()
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _invalid(path, "TYPE_ENUM", value)


class _List(_Node):
    __slots__ = ("item",)

    def __init__(self, item: _Node) -> None:
        self.item = item

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise _invalid(path, "TYPE_LIST", value)
        item = self.item
        return [item.parse(v, f"{path}[{i}]") for i, v in enumerate(value)]


class _Map(_Node):
    """A map / Struct: keys are user data and stay as sent; values follow `value`."""

    __slots__ = ("value",)

    def __init__(self, value: _Node) -> None:
        self.value = value

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise _invalid(path, "TYPE_MESSAGE", value)
        if isinstance(self.value, _Opaque):
            return value
        return {k: self.value.parse(v, f"{path}[{k!r}]") for k, v in value.items()}


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class _Struct(_Node):
    """A proto message: accepts each field by its snake_case or lowerCamel name."""

    __slots__ = ("fields", "lookup", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.fields: dict[str, _Node] = {}
        self.lookup: dict[str, str] = {}

    def add(self, snake: str, node: _Node) -> None:
        self.fields[snake] = node
        self.lookup[snake] = snake
        self.lookup[_camel(snake)] = snake

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise _invalid(path, "TYPE_MESSAGE", value)
        out: dict[str, Any] = {}
        lookup = self.lookup
        fields = self.fields
        for key, item in value.items():
            snake = lookup.get(key)
            if snake is None:
                raise WireError(
                    1007,
                    f"Invalid JSON payload received. Unknown name \"{key}\" at '{path}': "
                    "Cannot find field.",
                )
            if item is None:  # proto3 JSON: null means "not set"
                continue
            if snake in out:
                raise WireError(
                    1007,
                    f"Invalid JSON payload received. Duplicate field \"{key}\" at '{path}'.",
                )
            out[snake] = fields[snake].parse(item, f"{path}.{snake}")
        return out


# --------------------------------------------------------------------------- schema from SDK types

#: Fields whose SDK annotation is wider than the wire (the SDK converts before sending).
_OVERRIDES: dict[tuple[str, str], str] = {
    ("LiveClientSetup", "system_instruction"): "Content",
    ("LiveClientSetup", "tools"): "list[Tool]",
    ("LiveClientContextUpdate", "system_instruction"): "Content",
    ("LiveClientContextUpdateTools", "tools"): "list[Tool]",
}

#: Fields the SDK's converters add to a message beyond its pydantic type (from LiveConnectConfig).
_EXTRA_FIELDS: dict[str, dict[str, str]] = {
    "LiveClientSetup": {"realtime_input_config": "RealtimeInputConfig"},
}

_SCALARS: dict[type, _Node] = {
    bool: _Bool(),
    int: _Int(),
    float: _Float(),
    str: _Str(),
    bytes: _Bytes(),
}
_OPAQUE = _Opaque()


def _build_schema() -> _Struct:
    from google.genai import types as gtypes

    structs: dict[type, _Struct] = {}

    def node_for(ann: Any) -> _Node:
        origin = typing.get_origin(ann)
        args = typing.get_args(ann)
        if origin is typing.Annotated:
            return node_for(args[0])
        if origin is Union or origin is pytypes.UnionType:
            members = [a for a in args if a is not type(None)]
            if len(members) == 1:
                return node_for(members[0])
            for m in members:  # a union of shapes: the message form is what goes on the wire
                if isinstance(m, type) and issubclass(m, pydantic.BaseModel):
                    return node_for(m)
            return _OPAQUE
        if origin is list:
            return _List(node_for(args[0])) if args else _List(_OPAQUE)
        if origin is dict:
            return _Map(node_for(args[1]) if len(args) == 2 else _OPAQUE)
        if ann is typing.Any or not isinstance(ann, type):
            return _OPAQUE
        if issubclass(ann, pydantic.BaseModel):
            return struct_for(ann)
        if issubclass(ann, enum.Enum):
            return _Enum(ann.__name__)
        return _SCALARS.get(ann, _OPAQUE)

    def struct_for(model: type[pydantic.BaseModel]) -> _Struct:
        if model in structs:
            return structs[model]
        st = structs[model] = _Struct(model.__name__)
        for name, info in model.model_fields.items():
            override = _OVERRIDES.get((model.__name__, name))
            if override == "Content":
                st.add(name, struct_for(gtypes.Content))
            elif override == "list[Tool]":
                st.add(name, _List(struct_for(gtypes.Tool)))
            else:
                st.add(name, node_for(info.annotation))
        for name, type_name in _EXTRA_FIELDS.get(model.__name__, {}).items():
            st.add(name, struct_for(getattr(gtypes, type_name)))
        return st

    return struct_for(gtypes.LiveClientMessage)


_ROOT = _build_schema()

#: wire key (both spellings) → (kind, body schema)
_TOP: dict[str, tuple[str, _Node]] = {}
for _snake, _node in _ROOT.fields.items():
    _TOP[_snake] = (_snake, _node)
    _TOP[_camel(_snake)] = (_snake, _node)


_REALTIME_KEYS = frozenset({"realtime_input", "realtimeInput"})
_MIME_KEYS = frozenset({"mime_type", "mimeType"})


def _fast_audio(value: dict) -> ClientMessage | None:
    """One well-formed audio blob, already JSON-decoded: skip the schema walk. Anything unusual
    returns None and takes the general, schema-driven path (same result, clearer errors)."""
    audio = value.get("audio")
    if type(audio) is not dict or len(audio) != 2:
        return None
    data = audio.get("data")
    mime = None
    for k in _MIME_KEYS:
        if k in audio:
            mime = audio[k]
    if type(data) is not str or type(mime) is not str:
        return None
    try:
        raw = decode_base64(data)
    except ValueError:
        return None
    return ClientMessage(kind="realtime_input", body={"audio": {"data": raw, "mime_type": mime}})


#: The SDK's audio frame, byte for byte up to the base64 text: `json.dumps` of
#: `{"realtime_input": {"audio": {"data": "…", "mime_type": "…"}}}` (google-genai live.py).
_SDK_AUDIO_HEAD = b'{"realtime_input": {"audio": {"data": "'
#: What follows the base64 text: the mime type, printable ASCII without `"` or `\\` (so JSON
#: reads it verbatim), in either spelling, then the closing braces and nothing else.
_SDK_AUDIO_TAIL = re.compile(rb'", "(?:mime_type|mimeType)": "([ !#-\[\]-~]*)"\}\}\}')
_URLSAFE_TO_STD = bytes.maketrans(b"-_", b"+/")
_MIME_TEXT: dict[bytes, str] = {}


def parse_sdk_audio(data: bytes) -> tuple[bytes, str] | None:
    """The hot path, on the frame's bytes: (PCM, mime type) of the SDK's own audio frame.

    For such a frame `parse_client_frame(data)` gives `realtime_input` with exactly this audio
    blob; anything else (another layout, spacing, escapes, unpadded or bad base64, non-ASCII)
    returns None and takes the full path, which also produces its errors. No `json.loads`, no
    UTF-8 decode (the frame is ASCII), no schema walk. Why it is the same: between the fixed head
    and tail JSON can only hold the base64 text (no quote, no backslash: the strict decode accepts
    the alphabet and end padding only), the tail's mime type has no character JSON would
    unescape, and for padded text `decode_base64` is this same strict decode.
    """
    if not data.startswith(_SDK_AUDIO_HEAD):
        return None
    start = len(_SDK_AUDIO_HEAD)
    end = data.find(b'"', start)
    if end < 0 or (end - start) & 3:
        return None
    m = _SDK_AUDIO_TAIL.fullmatch(data, end)
    if m is None:
        return None
    try:
        pcm = binascii.a2b_base64(data[start:end].translate(_URLSAFE_TO_STD), strict_mode=True)
    except binascii.Error:
        return None
    mime_raw = m.group(1)
    mime = _MIME_TEXT.get(mime_raw)
    if mime is None:
        mime = mime_raw.decode("ascii")
        if len(_MIME_TEXT) < 64:  # a handful of rates in practice; bounded all the same
            _MIME_TEXT[mime_raw] = mime
    return pcm, mime


def parse_client_frame(data: str | bytes, *, fast: bool = True) -> ClientMessage:
    """Parse one client frame; raise WireError (1007, the service's reason) on anything invalid.

    `fast=False` skips the audio fast paths (`parse_sdk_audio`, `_fast_audio`): the schema walk
    alone, which tests use as the reference the fast paths must equal.
    """
    if fast and type(data) is bytes:
        audio = parse_sdk_audio(data)
        if audio is not None:
            return ClientMessage(
                "realtime_input", {"audio": {"data": audio[0], "mime_type": audio[1]}}
            )
    try:
        obj = json.loads(data)
    except (ValueError, TypeError, RecursionError):
        raise WireError(1007, "Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(obj, dict):
        raise WireError(
            1007, "Invalid JSON payload received. Expected a JSON object at the top level."
        )
    if len(obj) != 1:
        for key in obj:
            if key not in _TOP:
                raise WireError(
                    1007, f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
                )
        if not obj:
            raise WireError(1007, INVALID_ARGUMENT)
        keys = list(obj)
        raise WireError(
            1007,
            f"Invalid JSON payload received. Oneof field 'message_type' is already set. "
            f"Cannot set '{keys[1]}'",
        )
    ((key, value),) = obj.items()
    if fast and key in _REALTIME_KEYS and type(value) is dict and len(value) == 1:
        fast_msg = _fast_audio(value)
        if fast_msg is not None:
            return fast_msg
    entry = _TOP.get(key)
    if entry is None:
        raise WireError(
            1007, f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
        )
    kind, node = entry
    if value is None:
        raise WireError(1007, INVALID_ARGUMENT)
    try:
        body = node.parse(value, kind)
    except RecursionError:
        raise WireError(1007, "Invalid JSON payload received. Too deeply nested.") from None
    return ClientMessage(kind=kind, body=body)


# --------------------------------------------------------------------------- server frames


def _json_default(obj: Any) -> Any:
    if isinstance(obj, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(obj)).decode("ascii")
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default)


#: mime type -> the audio chunk frame's JSON before and after its base64 text
_CHUNK_TEMPLATE: dict[str, tuple[bytes, bytes]] = {}
#: PCM chunk -> its whole JSON frame. The model's audio is cut from the shipped reply clips once
#: per process (`speech.audio_chunks`), so the same few hundred chunk objects recur in every
#: session and turn; their hash is cached on the object, and `is` short-cuts the lookup.
_CHUNK_FRAMES: dict[tuple[str, bytes], bytes] = {}
_CHUNK_FRAMES_MAX = 4096  # about 10 MB of 40 ms chunks at most


def _encode_audio_chunk(msg: dict) -> bytes | None:
    """`{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": m, "data": pcm}}]}}}`
    encoded as the generic encoder would, byte for byte; None for any other message."""
    if len(msg) != 1:
        return None
    content = msg.get("serverContent")
    if type(content) is not dict or len(content) != 1:
        return None
    turn = content.get("modelTurn")
    if type(turn) is not dict or len(turn) != 1:
        return None
    parts = turn.get("parts")
    if type(parts) is not list or len(parts) != 1 or type(parts[0]) is not dict:
        return None
    part = parts[0]
    if len(part) != 1:
        return None
    blob = part.get("inlineData")
    if type(blob) is not dict or len(blob) != 2:
        return None
    mime, data = blob.get("mimeType"), blob.get("data")
    if type(mime) is not str or type(data) is not bytes or next(iter(blob)) != "mimeType":
        return None
    key = (mime, data)
    frame = _CHUNK_FRAMES.get(key)
    if frame is not None:
        return frame
    template = _CHUNK_TEMPLATE.get(mime)
    if template is None:
        marker = "\x00"  # written as "\u0000": the last one in the text is the data's
        text = _ENCODER.encode(
            {
                "serverContent": {
                    "modelTurn": {"parts": [{"inlineData": {"mimeType": mime, "data": marker}}]}
                }
            }
        ).encode("utf-8")
        head, _, tail = text.rpartition(b'"\\u0000"')
        template = _CHUNK_TEMPLATE[mime] = (head + b'"', b'"' + tail)
    frame = template[0] + binascii.b2a_base64(data, newline=False) + template[1]
    if len(frame) >= MAX_SERVER_FRAME_BYTES:
        return None  # the generic path raises
    if len(_CHUNK_FRAMES) >= _CHUNK_FRAMES_MAX:
        del _CHUNK_FRAMES[next(iter(_CHUNK_FRAMES))]
    _CHUNK_FRAMES[key] = frame
    return frame


def encode_server_message(msg: dict) -> bytes:
    """Serialise one server message to compact UTF-8 JSON (sent as a BINARY frame).

    Raw `bytes` values (audio) become standard base64. Raises ServerFrameError when a top-level
    key is not one the SDK knows or the frame would reach 1 MiB: both break real clients. The
    model's audio chunks, most of what it sends, take a cached shortcut with the same bytes.
    """
    frame = _encode_audio_chunk(msg)
    if frame is not None:
        return frame
    if not msg:
        raise ServerFrameError("empty server message")
    for key in msg:
        if key not in SERVER_TOP_LEVEL_KEYS:
            raise ServerFrameError(f"unknown server top-level key {key!r}")
    data = _ENCODER.encode(msg).encode("utf-8")
    if len(data) >= MAX_SERVER_FRAME_BYTES:
        raise ServerFrameError(f"server frame of {len(data)} bytes exceeds 1 MiB")
    return data
