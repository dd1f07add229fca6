"""Streaming resampler: real signal measurements (SINAD, alias/image rejection, flatness, delay),
exact lengths, chunking invariance, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveguard.audio.resample import Resampler, design_filter

PAIRS = [
    (8000, 16000),
    (24000, 8000),
    (24000, 16000),
    (16000, 24000),
    (48000, 16000),
    (24000, 48000),
]
# input tone -> the output frequency where its alias (downsampling) or image (upsampling) would land
SPURS = {
    (8000, 16000): (3000, [5000]),
    (24000, 8000): (6000, [2000]),
    (24000, 16000): (10000, [6000]),
    (16000, 24000): (3000, [5000, 11000]),  # images at 13 and 19 kHz (48 kHz), folded at 24 kHz
    (48000, 16000): (10000, [6000]),
    (24000, 48000): (3000, [21000]),
}
AMP = 32768 * 10 ** (-6 / 20)  # -6 dBFS
SETTLE_S = 0.05  # skip the start-up transient of the filter before measuring


def tone(freq: float, rate: int, seconds: float, amp: float = AMP) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(amp * np.sin(2 * np.pi * freq * t)).astype("<i2")


def stream(r: Resampler, x: np.ndarray, frame_ms: int = 20) -> np.ndarray:
    n = r.in_rate * frame_ms // 1000
    return np.concatenate(
        [np.frombuffer(r.process(x[i : i + n].tobytes()), "<i2") for i in range(0, len(x), n)]
    )


def fit(y: np.ndarray, freq: float, rate: int) -> tuple[float, np.ndarray]:
    """Least-squares amplitude of a sinusoid at `freq` (with DC), and the residual."""
    t = np.arange(len(y)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t)])
    coef, *_ = np.linalg.lstsq(basis.T, y.astype(np.float64), rcond=None)
    return float(np.hypot(coef[0], coef[1])), y - coef @ basis


def settled(y: np.ndarray, rate: int) -> np.ndarray:
    return y[int(SETTLE_S * rate) :]


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_sinad_of_1khz_tone_at_least_60_db(src: int, dst: int) -> None:
    y = settled(stream(Resampler(src, dst), tone(1000, src, 1.0)), dst)
    amp, residual = fit(y, 1000, dst)
    sinad = 10 * np.log10((amp**2 / 2) / np.mean(residual**2))
    assert sinad >= 60, f"{src}->{dst}: SINAD {sinad:.1f} dB"


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_alias_and_image_rejection_at_least_50_db(src: int, dst: int) -> None:
    f_in, spurs = SPURS[(src, dst)]
    y = settled(stream(Resampler(src, dst), tone(f_in, src, 1.0)), dst)
    for f in spurs:
        amp, _ = fit(y, f, dst)
        rejection = 20 * np.log10(AMP / max(amp, 1e-9))
        assert rejection >= 50, f"{src}->{dst}: {f_in} Hz leaks {rejection:.1f} dB at {f} Hz"


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_flat_at_3400_hz_within_1_db(src: int, dst: int) -> None:
    y = settled(stream(Resampler(src, dst), tone(3400, src, 0.5)), dst)
    gain_db = 20 * np.log10(fit(y, 3400, dst)[0] / AMP)
    assert abs(gain_db) <= 1.0, f"{src}->{dst}: {gain_db:+.2f} dB at 3.4 kHz"


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_delay_is_the_documented_group_delay_and_at_most_5_ms(src: int, dst: int) -> None:
    r = Resampler(src, dst)
    assert r.delay_ms <= 5.0
    x = np.zeros(src // 10, dtype="<i2")
    at = src // 20  # an impulse 50 ms in
    x[at] = 20000
    y = stream(r, x)
    peak_s = int(np.argmax(np.abs(y))) / dst
    assert peak_s - at / src == pytest.approx(r.delay_s, abs=0.5 / dst)


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_every_20ms_frame_gives_exactly_20ms_out(src: int, dst: int) -> None:
    r = Resampler(src, dst)
    x = tone(440, src, 2.0)
    n_in, n_out = src // 50, dst // 50
    sizes = [len(r.process(x[i : i + n_in].tobytes())) // 2 for i in range(0, len(x), n_in)]
    assert set(sizes) == {n_out}
    assert sum(sizes) == len(x) * dst // src


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_output_does_not_depend_on_chunking(src: int, dst: int) -> None:
    rng = np.random.default_rng(src * 7 + dst)
    x = (rng.standard_normal(src // 2) * 4000).astype("<i2")
    framed = stream(Resampler(src, dst), x)
    r, parts, i = Resampler(src, dst), [], 0
    while i < len(x):
        n = int(rng.integers(0, 700))  # includes empty chunks and sizes not a multiple of `down`
        parts.append(r.process(x[i : i + n].tobytes()))
        i += n
    assert np.array_equal(np.frombuffer(b"".join(parts), "<i2"), framed)


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_matches_whole_signal_convolution(src: int, dst: int) -> None:
    """The polyphase streaming form equals zero-stuff, filter, decimate on the whole signal."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(src // 5) * 3000).astype("<i2")
    r = Resampler(src, dst)
    h = design_filter(r.up, r.down)
    stuffed = np.zeros(len(x) * r.up)
    stuffed[:: r.up] = x
    ref = np.convolve(stuffed, h)[:: r.down][: len(x) * dst // src]
    ref = np.clip(np.round(ref), -32768, 32767)
    assert np.array_equal(stream(r, x), ref)


def test_reset_starts_a_new_stream() -> None:
    x = tone(1000, 8000, 0.2)
    r = Resampler(8000, 16000)
    first = stream(r, x)
    stream(r, tone(300, 8000, 0.1))
    r.reset()
    assert np.array_equal(stream(r, x), first)


def test_continuity_across_frames_has_no_edge_clicks() -> None:
    """Framed output of a tone is as clean as the same tone resampled in one call."""
    x = tone(1000, 24000, 0.5)
    whole = np.frombuffer(Resampler(24000, 8000).process(x.tobytes()), "<i2")
    assert np.array_equal(stream(Resampler(24000, 8000), x, frame_ms=20), whole)


def test_clips_instead_of_wrapping() -> None:
    r = Resampler(8000, 16000)
    square = np.tile(np.array([32767] * 8 + [-32768] * 8, dtype="<i2"), 100)
    y = stream(r, square)
    assert y.max() == 32767 and y.min() == -32768
    # a wrapped sample would flip sign next to a full-scale neighbour
    assert np.abs(np.diff(y.astype(np.int32))).max() < 65535


@pytest.mark.parametrize(("src", "dst"), [(0, 8000), (8000, -1), (44100, 16000)])
def test_bad_rates_are_clear_errors(src: int, dst: int) -> None:
    with pytest.raises(ValueError, match=r"rate|ratio"):
        Resampler(src, dst)


@settings(max_examples=40, deadline=None)
@given(
    pair=st.sampled_from(PAIRS),
    chunks=st.lists(st.binary(max_size=301), max_size=12),
)
def test_any_chunks_give_clear_errors_or_exact_lengths(
    pair: tuple[int, int], chunks: list[bytes]
) -> None:
    src, dst = pair
    r = Resampler(src, dst)
    fed = produced = 0
    for chunk in chunks:
        if len(chunk) % 2:
            with pytest.raises(ValueError, match="even number of bytes"):
                r.process(chunk)
            continue
        out = r.process(chunk)
        assert isinstance(out, bytes) and len(out) % 2 == 0
        fed += len(chunk) // 2
        produced += len(out) // 2
        assert produced == -(-fed * dst // src)  # ceil(fed * dst / src)
