"""RFC 6455 §5.2 frame headers, for the writers that skip a library's frame code: the emulator's
server frames (unmasked BINARY, `fastpath.ws_writer`), the relay's lean-wire caller audio (masked
TEXT, `fastpath.sdk_audio`) and the relay's writes to its callers (unmasked,
`fastpath.caller_ws`). Tests check them against websockets' own serialisation and through real
clients."""

from __future__ import annotations

__all__ = ["FIN_BINARY", "FIN_TEXT", "frame_header"]

FIN_TEXT = 0x81  # FIN, no RSV bits, opcode TEXT
FIN_BINARY = 0x82  # FIN, no RSV bits, opcode BINARY


def frame_header(first: int, length: int, *, masked: bool = False) -> bytes:
    """The header before a payload of `length` bytes; a masked frame's 4-byte key goes after it."""
    mask_bit = 0x80 if masked else 0
    if length < 126:
        return bytes((first, mask_bit | length))
    if length < 65536:
        return bytes((first, mask_bit | 126)) + length.to_bytes(2, "big")
    return bytes((first, mask_bit | 127)) + length.to_bytes(8, "big")
