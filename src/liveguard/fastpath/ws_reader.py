"""Shortcut: the emulator's fast reader. Whole, unfragmented, masked TEXT/BINARY frames are cut out
of the byte stream here, instead of going through websockets' generator-based parser, Frame
objects and event list per frame (the reference path: `protocol.receive_data()`).

It may only take over while websockets' parser sits idle between two frames with nothing
buffered (`parser_idle`), the protocol is OPEN and no fragmented message is open. Any other frame
(control, fragment, RSV bits, unmasked, bad opcode, over the size limit) goes, with every byte
after it, back to websockets, which handles and rejects exactly as it always did.

Relies on: websockets' `Protocol` attributes `current_size`, `max_message_size`,
`max_fragment_size`, `extensions`, `reader.buffer`, `reader.eof`, `parser`, and its parser
waiting in `StreamReader.at_eof()` called from `Protocol.parse()` (read off the generator frames).
Probed once on a throwaway protocol, before and after one frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.frames import apply_mask
from websockets.protocol import Protocol, Side, State
from websockets.streams import StreamReader

from liveguard.fastpath.seam import Shortcut

__all__ = ["WS_READER", "cut_frames", "parser_idle"]

_OPEN = State.OPEN
_codes: tuple[Any, Any] | None = None  # (StreamReader.at_eof, Protocol.parse) code objects


def parser_idle(protocol: Any) -> int | None:
    """The frame size limit when websockets' parser waits for the next frame with nothing
    buffered (the fast reader may cut frames), else None."""
    codes = _codes
    if codes is None:
        return None
    try:
        current_size = protocol.current_size
        limits = [x for x in (protocol.max_message_size, protocol.max_fragment_size) if x]
        if (
            protocol.state is not _OPEN
            or current_size is not None
            or protocol.extensions
            or protocol.reader.buffer
            or protocol.reader.eof
        ):
            return None
        outer, gen = None, protocol.parser  # websockets' parse() waiting in reader.at_eof()
    except AttributeError:
        return None
    while (inner := getattr(gen, "gi_yieldfrom", None)) is not None:
        outer, gen = gen, inner
    if getattr(gen, "gi_code", None) is not codes[0] or (
        getattr(outer, "gi_code", None) is not codes[1]  # not discard(): it waits there too
    ):
        return None
    return min(limits) if limits else 2**63


def cut_frames(
    buf: bytes, protocol: Any, limit: int, deliver: Callable[[bool, bytes], None]
) -> tuple[int, bool]:
    """Hand each whole fast frame at the start of `buf` to `deliver(is_text, payload)`.

    Returns `(pos, slow)`: `buf[pos:]` is not read yet; `slow` means it starts with a frame
    websockets must see (give it all of `buf[pos:]`), else it is the start of a frame still
    arriving (keep it for the next read)."""
    n = len(buf)
    pos = 0
    while n - pos >= 2:
        b0 = buf[pos]
        b1 = buf[pos + 1]
        # FIN, no RSV bits, TEXT or BINARY; masked (clients must mask); protocol OPEN
        if (b0 != 0x81 and b0 != 0x82) or b1 < 0x80 or protocol.state is not _OPEN:
            return pos, True
        length = b1 & 0x7F
        if length < 126:
            head = pos + 6
        elif length == 126:
            if n - pos < 4:
                return pos, True
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            head = pos + 8
        else:
            if n - pos < 10:
                return pos, True
            length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            head = pos + 14
        if length > limit:  # websockets refuses it (1009) before reading on
            return pos, True
        end = head + length
        if end > n:
            return pos, False
        payload = apply_mask(buf[head:end], buf[head - 4 : head])
        pos = end
        deliver(b0 == 0x81, payload)
    return pos, False


def _probe() -> str | None:
    global _codes
    at_eof = getattr(getattr(StreamReader, "at_eof", None), "__code__", None)
    parse = getattr(getattr(Protocol, "parse", None), "__code__", None)
    if at_eof is None or parse is None:
        return "websockets' StreamReader.at_eof / Protocol.parse are not plain generator functions"
    _codes = (at_eof, parse)
    try:
        why = _check_idle()
    except Exception:
        _codes = None
        raise
    if why is not None:
        _codes = None  # only a passing probe turns the reader on
    return why


def _check_idle() -> str | None:
    """A throwaway protocol's parser is seen idle before and after one frame."""
    protocol = Protocol(Side.SERVER, state=State.OPEN, max_size=1000)
    if parser_idle(protocol) != 1000:
        return "websockets' parser does not wait in StreamReader.at_eof() inside parse()"
    key = b"\x01\x02\x03\x04"
    protocol.receive_data(b"\x81\x82" + key + apply_mask(b"hi", key))
    events = protocol.events_received()
    if len(events) != 1 or getattr(events[0], "data", None) != b"hi":
        return "websockets' parser did not read a plain masked TEXT frame"
    if parser_idle(protocol) != 1000:
        return "websockets' parser is not idle again after a frame"
    return None


WS_READER = Shortcut("ws-reader", _probe, "websockets' own parser (protocol.receive_data)")
