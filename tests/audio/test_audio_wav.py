"""WAV helpers: mono PCM16 round trip, clear errors for everything else."""

from __future__ import annotations

import io
import struct
import subprocess
import wave

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveguard.audio.wav import WavFormatError, read_wav, write_wav


def test_round_trip(tmp_path) -> None:
    pcm = np.arange(-500, 500, dtype="<i2").tobytes()
    path = tmp_path / "a.wav"
    write_wav(path, pcm, 16000)
    audio = read_wav(path)
    assert audio.pcm == pcm and audio.sample_rate == 16000
    assert audio.duration_s == pytest.approx(1000 / 16000)
    buf = io.BytesIO()
    write_wav(buf, pcm, 8000)
    buf.seek(0)
    assert read_wav(buf).pcm == pcm


def _wav_bytes(channels: int, width: int, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(bytes(channels * width * 10))
    return buf.getvalue()


def test_stereo_is_refused(tmp_path) -> None:
    path = tmp_path / "stereo.wav"
    path.write_bytes(_wav_bytes(2, 2))
    with pytest.raises(WavFormatError, match=r"stereo\.wav: 2 channels"):
        read_wav(path)


def test_8_bit_is_refused(tmp_path) -> None:
    path = tmp_path / "u8.wav"
    path.write_bytes(_wav_bytes(1, 1))
    with pytest.raises(WavFormatError, match="8-bit"):
        read_wav(path)


def test_ulaw_wav_from_sox_is_refused(tmp_path) -> None:
    src, dst = tmp_path / "pcm.wav", tmp_path / "ulaw.wav"
    src.write_bytes(_wav_bytes(1, 2))
    subprocess.run(["sox", str(src), "-e", "u-law", str(dst)], check=True)
    with pytest.raises(WavFormatError, match="not a PCM16 WAV"):
        read_wav(dst)


def test_espeak_streamed_header_is_refused_with_a_hint(tmp_path) -> None:
    out = subprocess.run(["espeak-ng", "--stdout", "hello"], check=True, capture_output=True)
    path = tmp_path / "streamed.wav"
    path.write_bytes(out.stdout)
    with pytest.raises(WavFormatError, match="streamed header"):
        read_wav(path)


def test_not_a_wav_and_truncated(tmp_path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"hello, not a wav file at all")
    with pytest.raises(WavFormatError, match=r"x\.wav"):
        read_wav(path)
    path.write_bytes(_wav_bytes(1, 2)[:20])
    with pytest.raises(WavFormatError):
        read_wav(path)


def test_write_refuses_odd_bytes_and_bad_rate(tmp_path) -> None:
    with pytest.raises(ValueError, match="even number of bytes"):
        write_wav(tmp_path / "a.wav", b"\x00", 8000)
    with pytest.raises(ValueError, match="sample rate"):
        write_wav(tmp_path / "a.wav", b"\x00\x00", 0)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=120))
def test_garbage_after_a_riff_header_never_crashes(tail: bytes) -> None:
    data = b"RIFF" + struct.pack("<I", 4 + len(tail)) + b"WAVE" + tail
    try:
        audio = read_wav(io.BytesIO(data))
    except WavFormatError:
        return
    assert len(audio.pcm) % 2 == 0 and audio.sample_rate > 0
