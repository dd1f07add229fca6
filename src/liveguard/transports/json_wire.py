"""The JSON envelope the JSON carriers share (Twilio, Telnyx, Plivo, Exotel): parse and spell.

Why plain functions that return a reason string for bad input instead of raising: Twilio's
protocol and the carrier base count and word their errors differently, so only the parsing and the
message spelling are shared, not the reporting.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

__all__ = ["b64_payload", "clear_frame", "json_object", "mark_frame", "media_frame"]


def json_object(data: str | bytes, binary_reason: str) -> dict[str, Any] | str:
    """`data` as a JSON object, or why it is not one (`binary_reason` for a binary frame)."""
    if isinstance(data, bytes | bytearray):
        return f"binary frame: {binary_reason}"
    try:
        msg = json.loads(data)
    except ValueError as exc:
        return f"invalid JSON: {str(exc)[:80]}"
    if not isinstance(msg, dict):
        return "message is not a JSON object"
    return msg


def b64_payload(media: dict[str, Any]) -> bytes | str:
    """A `media` object's base64 `payload` as bytes, or why it is not one (validated, in C)."""
    payload = media.get("payload")
    if not isinstance(payload, str):
        return "'media.payload' is not a string"
    try:
        return binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, ValueError):
        return "'media.payload' is not valid base64"


def media_frame(sid_key: str, sid_json: str, wire: bytes) -> str:
    """`{"event":"media","<sid_key>":<sid>,"media":{"payload":"<base64>"}}`."""
    payload = base64.b64encode(wire).decode("ascii")
    return f'{{"event":"media","{sid_key}":{sid_json},"media":{{"payload":"{payload}"}}}}'


def mark_frame(sid_key: str, sid_json: str, name: str) -> str:
    """`{"event":"mark","<sid_key>":<sid>,"mark":{"name":"<name>"}}`."""
    return f'{{"event":"mark","{sid_key}":{sid_json},"mark":{{"name":"{name}"}}}}'


def clear_frame(sid_key: str, sid_json: str) -> str:
    """`{"event":"clear","<sid_key>":<sid>}`."""
    return f'{{"event":"clear","{sid_key}":{sid_json}}}'
