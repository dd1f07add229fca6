"""μ-law codec: bit-exact against stdlib audioop (the reference on 3.11), clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveguard.audio import mulaw

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the oracle only; deprecated in 3.11, gone in 3.13

ALL_INT16 = np.arange(-32768, 32768, dtype="<i2")


def test_decode_matches_audioop_for_all_256_codes() -> None:
    codes = bytes(range(256))
    assert mulaw.decode(codes) == audioop.ulaw2lin(codes, 2)


def test_encode_matches_audioop_for_all_65536_int16_values() -> None:
    pcm = ALL_INT16.tobytes()
    assert mulaw.encode(pcm) == audioop.lin2ulaw(pcm, 2)


def test_array_variants_match_bytes_variants() -> None:
    assert mulaw.encode_array(ALL_INT16) == mulaw.encode(ALL_INT16.tobytes())
    codes = bytes(range(256))
    assert mulaw.decode_array(codes).tobytes() == mulaw.decode(codes)


def test_g711_reference_points() -> None:
    dec = mulaw.decode_array(bytes(range(256)))
    assert dec[mulaw.ULAW_SILENCE] == 0 and dec[0x7F] == 0
    assert dec[0x00] == -32124 and dec[0x80] == 32124  # the extremes of G.711
    assert mulaw.encode(np.array([0], "<i2").tobytes()) == bytes([mulaw.ULAW_SILENCE])


def test_round_trip_error_is_within_the_segment_step() -> None:
    back = mulaw.decode_array(mulaw.encode(ALL_INT16.tobytes())).astype(np.int32)
    err = np.abs(back - ALL_INT16.astype(np.int32))
    # half the largest segment step (1024) plus the 14-bit truncation; clipping above 32124
    assert err[np.abs(ALL_INT16.astype(np.int32)) <= 32124].max() <= 516
    assert err.max() == 32768 - 32124


def test_twilio_frame_sizes() -> None:
    frame = bytes([0x55]) * 160  # 20 ms at 8 kHz
    pcm = mulaw.decode(frame)
    assert len(pcm) == 320
    assert len(mulaw.encode(pcm)) == 160


def test_odd_pcm_length_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="even number of bytes"):
        mulaw.encode(b"\x00\x01\x02")


def test_encode_array_needs_int16() -> None:
    with pytest.raises(TypeError, match="int16"):
        mulaw.encode_array(np.zeros(4, dtype=np.float32))


def test_empty_input() -> None:
    assert mulaw.decode(b"") == b""
    assert mulaw.encode(b"") == b""


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_decode_and_encode_like_audioop(data: bytes) -> None:
    assert mulaw.decode(data) == audioop.ulaw2lin(data, 2)
    if len(data) % 2:
        with pytest.raises(ValueError):
            mulaw.encode(data)
    else:
        assert mulaw.encode(data) == audioop.lin2ulaw(data, 2)
