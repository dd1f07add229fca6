"""G.711 A-law codec (8 kHz), for carriers that stream PCMA (Telnyx `codec="PCMA"`).

Why a second table codec beside μ-law: Telnyx (and European trunks generally) may deliver the call
in A-law; decoding it to PCM16 here keeps the rest of the relay codec-free. Tables are built once
from the G.711 formula and are bit-exact with `audioop.alaw2lin` / `audioop.lin2alaw` (tested).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ALAW_SILENCE", "decode", "encode"]

#: The A-law byte for silence (0 → 0xD5).
ALAW_SILENCE = 0xD5


def _build_decode_table() -> np.ndarray:
    """code -> int16 per G.711: undo the even-bit inversion, then segment/mantissa."""
    a = np.arange(256, dtype=np.int32) ^ 0x55
    mant = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, mant + 8, (mant + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype("<i2")


def _build_encode_table() -> np.ndarray:
    """int16 (indexed as uint16) -> code, per G.711 on the 13-bit value x >> 3, as audioop."""
    pcm = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg_end = np.array([(0x20 << i) - 1 for i in range(8)], dtype=np.int32)
    seg = np.searchsorted(seg_end, mag, side="left")
    shift = np.where(seg < 2, 1, seg)
    code = (seg << 4) | ((mag >> shift) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


_DECODE = _build_decode_table()
_ENCODE = _build_encode_table()


def decode(alaw: bytes | bytearray | memoryview) -> bytes:
    """A-law bytes -> PCM16 little-endian bytes (twice as long)."""
    return _DECODE[np.frombuffer(alaw, dtype=np.uint8)].tobytes()


def encode(pcm16: bytes | bytearray | memoryview) -> bytes:
    """PCM16 little-endian bytes -> A-law bytes (half as long); odd lengths are an error."""
    if len(pcm16) % 2:
        raise ValueError(f"PCM16 input must have an even number of bytes, got {len(pcm16)}")
    return _ENCODE[np.frombuffer(pcm16, dtype="<u2")].tobytes()
