"""Filler and fallback playback: a configured WAV file as `AudioOut` items the transport plays.

The guard asks for it (`PlayFiller` while recovering, `PlayFallback` as the last rung); the audio
goes to the caller like model audio, in 100 ms pieces, so a transport needs no second path.
"""

from __future__ import annotations

import logging
from pathlib import Path

from liveguard.audio.wav import WavFormatError, read_wav
from liveguard.session.items import AudioOut

log = logging.getLogger(__name__)


def wav_pieces(path: Path | None, source: str) -> list[AudioOut]:
    """`path` as `AudioOut(source=source)` pieces; none when unset or unreadable (logged)."""
    if path is None:
        return []
    try:
        audio = read_wav(path)
    except (OSError, WavFormatError) as exc:
        log.error("cannot play %s audio %s: %s", source, path.name, exc)
        return []
    pcm, rate = audio.pcm, audio.sample_rate
    step = rate * 2 // 10  # 100 ms pieces
    return [AudioOut(pcm[i : i + step], rate, None, source) for i in range(0, len(pcm), step)]
