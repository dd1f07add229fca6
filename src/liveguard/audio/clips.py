"""The shipped speech clips: caller utterances (16 kHz) and model replies (24 kHz).

They were rendered once with espeak-ng by `scripts/render-clips` and ship as package data, so tests,
demos, benches and the emulator all speak real speech without a TTS at run time. `load_clip`
converts the sample rate offline (windowed-sinc polyphase, computed once and cached), and
`identify_utterance` is the emulator's "speech recogniser": it recognises a shipped utterance from a
coarse spectral fingerprint that survives a μ-law 8 kHz round trip, resampling, level changes and
added silence, and answers None for anything else.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np

from liveguard.audio.wav import read_wav

__all__ = [
    "Clip",
    "clip_text",
    "identify_utterance",
    "load_clip",
    "reply_names",
    "resample_pcm16",
    "utterance_names",
]

_PACKAGE = "liveguard.audio"


def _data(filename: str):
    """A file of the clips directory (chained joinpath: the package may be a namespace package)."""
    return resources.files(_PACKAGE).joinpath("data").joinpath("clips").joinpath(filename)


@dataclass(frozen=True)
class Clip:
    """One clip at one sample rate: mono PCM16 little-endian."""

    name: str
    text: str
    rate: int
    pcm: bytes

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.rate

    @property
    def samples(self) -> np.ndarray:
        return np.frombuffer(self.pcm, dtype="<i2")


@functools.cache
def _manifest() -> dict[str, dict]:
    path = _data("manifest.json")
    return json.loads(path.read_text(encoding="utf-8"))


def utterance_names() -> list[str]:
    """Caller utterances (16 kHz originals), in manifest order."""
    return [n for n, m in _manifest().items() if m["kind"] == "utterance"]


def reply_names() -> list[str]:
    """Model replies (24 kHz originals), in manifest order."""
    return [n for n, m in _manifest().items() if m["kind"] == "reply"]


def clip_text(name: str) -> str:
    """The words spoken in a clip; KeyError for an unknown name."""
    return _entry(name)["text"]


def _entry(name: str) -> dict:
    try:
        return _manifest()[name]
    except KeyError:
        known = ", ".join(sorted(_manifest()))
        raise KeyError(f"unknown clip {name!r}; known clips: {known}") from None


@functools.cache
def _original(name: str) -> Clip:
    entry = _entry(name)
    data = _data(f"{name}.wav").read_bytes()
    audio = read_wav(io.BytesIO(data))  # WavFormatError if a clip is not mono PCM16
    return Clip(name=name, text=entry["text"], rate=audio.sample_rate, pcm=audio.pcm)


@functools.cache
def load_clip(name: str, rate: int = 16000) -> Clip:
    """A shipped clip at `rate` Hz (converted offline from the original, then cached)."""
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    clip = _original(name)
    if rate == clip.rate:
        return clip
    return Clip(name=name, text=clip.text, rate=rate, pcm=resample_pcm16(clip.pcm, clip.rate, rate))


# --------------------------------------------------------------------------- offline resampling


@functools.cache
def _lowpass(up: int, down: int) -> np.ndarray:
    """Kaiser-windowed sinc for rational resampling by up/down (gain `up` for zero stuffing)."""
    factor = max(up, down)
    half = 16 * factor
    n = np.arange(-half, half + 1, dtype=np.float64)
    cutoff = 0.5 / factor * 0.92  # cycles per (upsampled) sample, a little below Nyquist
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(len(n), 8.6)
    return h * (up / h.sum())


def resample_float(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Whole-signal polyphase-equivalent resampling (zero-phase: no delay); float64 in and out."""
    if src == dst:
        return x.astype(np.float64, copy=True)
    g = math.gcd(src, dst)
    up, down = dst // g, src // g
    if up * down > 4096:
        raise ValueError(f"unsupported rate ratio {src}->{dst}")
    h = _lowpass(up, down)
    stuffed = np.zeros(len(x) * up, dtype=np.float64)
    stuffed[::up] = x
    y = np.convolve(stuffed, h)
    delay = (len(h) - 1) // 2
    n_out = (len(x) * up) // down
    return y[delay : delay + n_out * down : down][:n_out]


def resample_pcm16(pcm: bytes, src: int, dst: int) -> bytes:
    """PCM16 bytes at `src` Hz -> PCM16 bytes at `dst` Hz (offline; not for the live path)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    y = resample_float(x, src, dst)
    return np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes()


# --------------------------------------------------------------------------- recognition

_FRAME = 512  # 32 ms at 16 kHz
_HOP = 256  # 16 ms
_BAND_EDGES_HZ = (250, 400, 550, 720, 900, 1100, 1350, 1650, 2000, 2450, 3000, 3500)
_FP_FRAMES = 48  # the fingerprint's fixed time resolution
_TRIM_DB = 30.0  # frames this far below the loudest frame count as silence
_MIN_SCORE = 0.72
_MIN_MARGIN = 0.04
_MAX_SECONDS = 30.0
_CACHE_SIZE = 512


def _band_bins() -> tuple[np.ndarray, int, int]:
    """FFT bin index where each band starts (for np.add.reduceat), and the used bin range."""
    freqs = np.fft.rfftfreq(_FRAME, 1 / 16000)
    starts = np.searchsorted(freqs, _BAND_EDGES_HZ)
    lo, hi = int(starts[0]), int(starts[-1])
    return (starts[:-1] - lo).astype(np.intp), lo, hi


_BAND_STARTS, _BIN_LO, _BIN_HI = _band_bins()
_WINDOW = np.hanning(_FRAME).astype(np.float32)


def _fingerprint(x: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(normalised band-energy contour resampled to a fixed length, speech seconds) or None."""
    if len(x) < _FRAME * 4:
        return None
    x = x.astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, _FRAME)[::_HOP] * _WINDOW
    n = len(frames)
    spec = np.fft.rfft(frames, axis=1)[:, _BIN_LO:_BIN_HI]
    power = spec.real**2 + spec.imag**2
    bands = np.add.reduceat(power, _BAND_STARTS, axis=1) + 1e-3
    logb = 10 * np.log10(bands)
    energy = 10 * np.log10(bands.sum(axis=1))
    top = float(energy.max())
    if top < 40:  # digital near-silence (amplitude below ~ -60 dBFS)
        return None
    loud = energy > top - _TRIM_DB
    first = int(np.argmax(loud))
    last = n - int(np.argmax(loud[::-1]))
    if last - first < 8:
        return None
    seg = logb[first:last]
    seg = np.maximum(seg, seg.max() - 45)  # floor: quiet noise must not dominate the contour
    seg = seg - seg.mean(axis=1, keepdims=True)  # per-frame spectral shape ...
    env = energy[first:last]
    feats = np.concatenate([seg, (env - env.mean())[:, None]], axis=1)  # ... plus loudness contour
    pos = np.linspace(0, len(feats) - 1, _FP_FRAMES)  # linear resampling to a fixed length
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, len(feats) - 1)
    w = (pos - i0)[:, None]
    fp = (feats[i0] * (1 - w) + feats[i1] * w).ravel().astype(np.float64)
    fp = fp - fp.mean()
    norm = np.linalg.norm(fp)
    if norm == 0:
        return None
    return fp / norm, (last - first) * _HOP / 16000


@functools.cache
def _references() -> dict[str, tuple[np.ndarray, float]]:
    refs = {}
    for name in utterance_names():
        fp = _fingerprint(load_clip(name, 16000).samples)
        if fp is not None:
            refs[name] = fp
    return refs


def identify_utterance(pcm16_16k: bytes) -> str | None:
    """Which shipped caller utterance this 16 kHz PCM16 audio is, or None if none fits well.

    The audio may carry silence or low noise around the speech, a different level, and telephone
    band limits (μ-law 8 kHz round trip). Speech that is not one of the shipped utterances, or two
    utterances run together, gives None. Results are cached by content: load tests send the same
    bytes over and over, and the answer for given bytes never changes.
    """
    key = hashlib.blake2b(pcm16_16k, digest_size=16).digest()
    hit = _identified.get(key, _MISS)
    if hit is not _MISS:
        return hit  # type: ignore[return-value]
    name = _identify(pcm16_16k)
    if len(_identified) >= _CACHE_SIZE:
        _identified.pop(next(iter(_identified)))
    _identified[key] = name
    return name


_MISS = object()
_identified: dict[bytes, str | None] = {}


def _identify(pcm16_16k: bytes) -> str | None:
    usable = len(pcm16_16k) - len(pcm16_16k) % 2
    x = np.frombuffer(pcm16_16k, dtype="<i2", count=usable // 2)
    x = x[: int(_MAX_SECONDS * 16000)]
    got = _fingerprint(x)
    if got is None:
        return None
    fp, seconds = got
    scores = []
    for name, (ref, ref_seconds) in _references().items():
        ratio = seconds / ref_seconds
        if not 0.8 <= ratio <= 1.25:
            continue
        scores.append((float(fp @ ref), name))
    if not scores:
        return None
    scores.sort(reverse=True)
    best, name = scores[0]
    second = scores[1][0] if len(scores) > 1 else -1.0
    if best < _MIN_SCORE or best - second < _MIN_MARGIN:
        return None
    return name
