"""Shortcut: the relay's frames to a caller (model audio, marks, JSON) built here and written
straight onto the socket under aiohttp's `WebSocketResponse`, in one write per batch, instead of
`ws.send_str()` / `ws.send_bytes()` (the reference path, a lock, a task hop and a drain per frame).

Relies on: aiohttp writing an unmasked, uncompressed frame exactly as `encode_frames` does
(probed once against aiohttp's own `WebSocketWriter`), and, per call, the response reporting the
negotiated compression (`ws.compress`, which must be off: the routes open their sockets with
`compress=False`) and a raw transport with `write`, `is_closing`, `get_write_buffer_size`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiohttp import WSMsgType, web

from liveguard.fastpath.seam import Shortcut
from liveguard.fastpath.wsframe import FIN_BINARY, FIN_TEXT, frame_header

__all__ = ["CALLER_WS", "encode_frames", "raw_socket"]

_TRANSPORT_NEEDS = ("write", "is_closing", "get_write_buffer_size")


def encode_frames(frames: Sequence[str | bytes]) -> bytes:
    """Server (unmasked) WebSocket frames for `frames`, as one buffer (RFC 6455 §5.2)."""
    parts: list[bytes] = []
    for frame in frames:
        if isinstance(frame, str):
            payload = frame.encode("utf-8")
            parts.append(frame_header(FIN_TEXT, len(payload)))
        else:
            payload = frame
            parts.append(frame_header(FIN_BINARY, len(payload)))
        parts.append(payload)
    return b"".join(parts)


class _Recorder:
    """Stands in for the transport under aiohttp's writer: keeps what is written."""

    def __init__(self) -> None:
        self.out = bytearray()

    def write(self, data: bytes) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return False


def _aiohttp_bytes(frame: str | bytes) -> bytes | None:
    """What aiohttp's own writer puts on the socket for one frame (None: not at once)."""
    from aiohttp.http_websocket import WebSocketWriter

    rec = _Recorder()
    writer = WebSocketWriter(None, rec, use_mask=False, limit=2**20, compress=0)  # type: ignore[arg-type]
    if isinstance(frame, str):
        coro = writer.send_frame(frame.encode("utf-8"), WSMsgType.TEXT)
    else:
        coro = writer.send_frame(frame, WSMsgType.BINARY)
    try:
        coro.send(None)  # nothing to wait for below the limit: done in one step
    except StopIteration:
        return bytes(rec.out)
    coro.close()
    return None


def _probe() -> str | None:
    if not isinstance(getattr(web.WebSocketResponse, "compress", None), property):
        return "aiohttp's WebSocketResponse no longer reports its compression (compress)"
    for frame in ("", "x" * 125, '{"event":"mark"}' * 9, b"\x00" * 126, b"\x7f" * 70000):
        if _aiohttp_bytes(frame) != encode_frames([frame]):
            return "aiohttp no longer writes an unmasked frame as encode_frames() does"
    return None


CALLER_WS = Shortcut("caller-ws", _probe, "ws.send_str() / ws.send_bytes()")


def raw_socket(ws: web.WebSocketResponse, raw: Any) -> asyncio.WriteTransport | None:
    """The socket under a prepared `ws` when frames may be written straight onto it (decided
    once per call), else None: the caller's frames go through `ws.send_str` / `send_bytes`."""
    if raw is None or not CALLER_WS.usable():
        return None
    if ws.compress:
        CALLER_WS.missing("the caller's socket negotiated compression (open it compress=False)")
        return None
    lacking = [n for n in _TRANSPORT_NEEDS if not callable(getattr(raw, n, None))]
    if lacking:
        CALLER_WS.missing(f"the caller's transport has no {', '.join(lacking)}")
        return None
    return raw
