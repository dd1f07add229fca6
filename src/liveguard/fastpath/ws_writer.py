"""Shortcut: the emulator's server frames (unmasked, uncompressed BINARY) built here and written to
the transport in one call per batch, instead of websockets' `protocol.send_binary()` +
`connection.send_data()` per frame (the reference path, a Frame object, a BytesIO and a TLS write
each).

Relies on: websockets' `Protocol.writes` (its output not yet handed to the transport), and
websockets serialising a server BINARY frame exactly as
`wsframe.frame_header` + payload; probed once on a throwaway protocol. Per connection: no
extension negotiated (the emulator never negotiates compression).
"""

from __future__ import annotations

from typing import Any

from websockets.protocol import Protocol, Side, State

from liveguard.fastpath.seam import Shortcut
from liveguard.fastpath.wsframe import FIN_BINARY, frame_header

__all__ = ["WS_WRITER", "raw_frames_ok", "write_binary"]


def _probe() -> str | None:
    protocol = Protocol(Side.SERVER, state=State.OPEN)
    if not isinstance(getattr(protocol, "writes", None), list):
        return "websockets' Protocol has no writes list"
    for size in (0, 125, 126, 70000):
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        protocol.send_binary(data)
        if b"".join(protocol.data_to_send()) != frame_header(FIN_BINARY, size) + data:
            return "websockets no longer writes a server BINARY frame as frame_header() does"
    return None


WS_WRITER = Shortcut("ws-writer", _probe, "protocol.send_binary() + send_data() per frame")


def raw_frames_ok(conn: Any) -> bool:
    """May `conn`'s server frames be written raw (decided once per connection)?"""
    return WS_WRITER.usable() and not conn.protocol.extensions


def write_binary(conn: Any, payloads: list[bytes], raw: bool) -> None:
    """Write websockets' pending output, then `payloads` as BINARY frames, in that order: raw in
    one transport write, or (`raw` False) through websockets' own frame code."""
    protocol = conn.protocol
    if not raw:
        for data in payloads:
            protocol.send_binary(data)
        conn.send_data()
        return
    if protocol.writes or not payloads:
        conn.send_data()
    if payloads:
        chunks: list[bytes] = []
        for data in payloads:
            chunks.append(frame_header(FIN_BINARY, len(data)))
            chunks.append(data)
        conn.transport.write(b"".join(chunks))
