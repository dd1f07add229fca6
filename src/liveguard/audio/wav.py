"""Read and write mono PCM16 WAV files (stdlib `wave`), with clear errors for anything else.

Fixtures, shipped clips, fallback prompts and recordings are all mono PCM16; refusing other formats
early beats playing noise into a call. Convert with e.g. `sox in.wav -r 16000 -c 1 -b 16 out.wav`.
"""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["WavAudio", "WavFormatError", "read_wav", "write_wav"]

_MAX_WAV_BYTES = 1 << 28  # 256 MiB of samples: far above any prompt or fixture


class WavFormatError(ValueError):
    """The file is not a mono PCM16 WAV (or not a WAV at all)."""


@dataclass(frozen=True, slots=True)
class WavAudio:
    pcm: bytes  # PCM16 little-endian, mono
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


def read_wav(source: str | Path | BinaryIO) -> WavAudio:
    """Read a mono 16-bit PCM WAV; raises WavFormatError naming the file and what is wrong."""
    name = str(source) if isinstance(source, str | Path) else getattr(source, "name", "<stream>")
    try:
        with wave.open(str(source) if isinstance(source, Path) else source, "rb") as w:
            channels, width, rate, frames = (
                w.getnchannels(),
                w.getsampwidth(),
                w.getframerate(),
                w.getnframes(),
            )
            if channels != 1:
                raise WavFormatError(f"{name}: {channels} channels; need mono PCM16")
            if width != 2:
                raise WavFormatError(f"{name}: {8 * width}-bit samples; need 16-bit PCM")
            if rate <= 0:
                raise WavFormatError(f"{name}: bad sample rate {rate}")
            if frames * 2 > _MAX_WAV_BYTES:
                raise WavFormatError(
                    f"{name}: header says {frames} frames (more than {_MAX_WAV_BYTES} bytes); "
                    "a streamed header? write files with `espeak-ng -w` or pipe through sox"
                )
            pcm = w.readframes(frames)
    except WavFormatError:
        raise
    except wave.Error as exc:  # compressed formats (μ-law, float) land here: "unknown format: 7"
        raise WavFormatError(f"{name}: not a PCM16 WAV ({exc})") from None
    except EOFError:
        raise WavFormatError(f"{name}: truncated WAV header") from None
    except (RuntimeError, struct.error, ValueError, OverflowError) as exc:  # malformed chunks
        raise WavFormatError(f"{name}: malformed WAV ({type(exc).__name__}: {exc})") from None
    if len(pcm) % 2:
        pcm = pcm[:-1]  # a truncated final sample
    return WavAudio(pcm=pcm, sample_rate=rate)


def write_wav(dest: str | Path | BinaryIO, pcm16: bytes, sample_rate: int) -> None:
    """Write mono PCM16 little-endian samples as a WAV file."""
    if len(pcm16) % 2:
        raise ValueError(f"PCM16 data must have an even number of bytes, got {len(pcm16)}")
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    with wave.open(str(dest) if isinstance(dest, Path) else dest, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm16)
