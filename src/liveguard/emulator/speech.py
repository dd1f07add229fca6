"""What the emulated model hears and says: transcripts of caller audio, reply choice, audio chunks.

The "ASR" is `identify_utterance` over the shipped caller clips (anything else gets a neutral
placeholder); the "TTS" is the shipped reply clips, cut into frames the way the service streams
them. Kept apart from model.py so the session state machine only deals with turns and time.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import re
from dataclasses import dataclass

import numpy as np

from liveguard.audio.clips import (
    clip_text,
    identify_utterance,
    load_clip,
    reply_names,
    resample_pcm16,
    utterance_names,
)

__all__ = [
    "DEFAULT_REPLIES",
    "OUTPUT_RATE",
    "SpokenPart",
    "audio_chunks",
    "choose_reply",
    "fragments",
    "match_utterance_text",
    "mean_abs",
    "reply_seconds",
    "scaled_pcm",
    "spoken_part",
    "transcribe",
    "warm_up",
]

OUTPUT_RATE = 24000

#: utterance -> reply clip; "@repeat" repeats the model's previous reply.
DEFAULT_REPLIES = {
    "check_order": "ask_order_number",
    "order_number": "order_shipped",
    "transfer_billing": "transfer",
    "thanks_bye": "goodbye",
    "still_there": "still_here",
    "change_address": "ask_order_number",
    "repeat_please": "@repeat",
    "opening_hours": "closing_time",
}

_WORD = re.compile(r"[a-z0-9']+")


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


@functools.cache
def _utterance_texts() -> tuple[tuple[str, str], ...]:
    return tuple((name, _norm(clip_text(name))) for name in utterance_names())


def match_utterance_text(text: str) -> str | None:
    """The shipped utterance whose words appear in `text` (a nudge often quotes the caller)."""
    norm = f" {_norm(text)} "
    for name, words in _utterance_texts():
        if words and f" {words} " in norm:
            return name
    return None


def warm_up() -> None:
    """Build the recogniser's references and the 24 kHz reply clips now (about 25 ms, once per
    process), not in the first turns, where they would stall every session."""
    for name in reply_names():
        load_clip(name, OUTPUT_RATE)
    names = utterance_names()
    if names:
        identify_utterance(load_clip(names[0]).pcm)


def transcribe(pcm: bytes, rate: int, placeholder: str) -> tuple[str | None, str]:
    """(utterance name or None, transcript) for one caller turn of PCM16 audio."""
    if rate != 16000:
        try:
            pcm = resample_pcm16(pcm, rate, 16000)
        except ValueError:  # an exotic rate ratio: not one of ours anyway
            return None, placeholder
    name = identify_utterance(pcm)
    if name is None:
        return None, placeholder
    return name, clip_text(name)


def choose_reply(
    *,
    utterance: str | None,
    greeting_due: bool,
    greeting: str,
    replies: dict[str, str],
    fallback: list[str],
    last_reply: str | None,
    rng: random.Random,
) -> str:
    """Which reply clip answers this turn."""
    if greeting_due:
        return greeting
    if utterance is not None:
        reply = replies.get(utterance, DEFAULT_REPLIES.get(utterance))
        if reply == "@repeat":
            return last_reply or greeting
        if reply is not None:
            return reply
    return rng.choice(fallback)


@functools.cache
def scaled_pcm(name: str, mean_abs: float) -> bytes:
    """A reply clip at 24 kHz scaled so that its mean absolute sample value is `mean_abs`
    (inaudible answers: full length, the right words in the transcript, near-zero level)."""
    x = np.frombuffer(load_clip(name, OUTPUT_RATE).pcm, dtype="<i2").astype(np.float64)
    current = float(np.abs(x).mean()) if len(x) else 0.0
    gain = mean_abs / current if current else 0.0
    return np.clip(np.rint(x * gain), -32768, 32767).astype("<i2").tobytes()


def mean_abs(pcm: bytes) -> float:
    """Mean absolute sample value of PCM16 (the level evidence of an inaudible answer)."""
    x = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.int32)
    return float(np.abs(x).mean()) if len(x) else 0.0


@functools.cache
def audio_chunks(
    name: str, chunk_ms: int, count: int | None = None, level: float | None = None
) -> tuple[bytes, ...]:
    """A reply clip at 24 kHz cut into `count` near-equal frames, or frames of `chunk_ms`;
    scaled to mean |sample| `level` when given."""
    pcm = load_clip(name, OUTPUT_RATE).pcm if level is None else scaled_pcm(name, level)
    samples = len(pcm) // 2
    if count is None:
        per = max(1, OUTPUT_RATE * chunk_ms // 1000)
        count = max(1, math.ceil(samples / per))
    count = max(1, min(count, samples))
    bounds = [round(i * samples / count) for i in range(count + 1)]
    return tuple(pcm[2 * a : 2 * b] for a, b in itertools.pairwise(bounds))


def reply_seconds(name: str) -> float:
    return load_clip(name, OUTPUT_RATE).seconds


def fragments(text: str, words_per_fragment: int) -> list[str]:
    """Incremental transcript fragments, as conversation models send them (leading spaces)."""
    words = text.split()
    out = []
    for i in range(0, len(words), words_per_fragment):
        piece = " ".join(words[i : i + words_per_fragment])
        out.append(piece if i == 0 else f" {piece}")
    return out


@dataclass(frozen=True, slots=True)
class SpokenPart:
    """One spoken part as the service streams it: audio chunks sent `spacing` apart, each with
    the transcript fragments that go out with it, played in `duration` seconds."""

    text: str  # what is said (a cut part: only the words kept)
    chunks: tuple[bytes, ...]
    words: tuple[tuple[str, ...], ...]  # transcript fragments per chunk
    duration: float
    spacing: float


def spoken_part(
    clip: str,
    *,
    chunk_ms: int,
    chunk_count: int | None,
    level: float | None,
    fraction: float,
    playback_speed: float,
    send_speedup: float,
    fragment_words: int,
) -> SpokenPart:
    """Plan `clip` as chunks and transcript fragments; `fraction` < 1 cuts it mid-sentence (audio
    and words stop together), `level` scales it (inaudible answers)."""
    text = clip_text(clip)
    duration = reply_seconds(clip) / playback_speed
    chunks = audio_chunks(clip, chunk_ms, chunk_count, level)
    pieces = fragments(text, fragment_words)
    if fraction < 1.0:
        keep = max(1, math.ceil(len(chunks) * fraction))
        duration *= keep / len(chunks)
        chunks = chunks[:keep]
        pieces = pieces[: max(1, math.ceil(len(pieces) * fraction))]
        text = "".join(pieces).strip()
    per_piece = len(chunks) / max(1, len(pieces))
    words: list[tuple[str, ...]] = []
    next_piece = 0
    for i in range(len(chunks)):
        mine: list[str] = []
        while next_piece < len(pieces) and next_piece * per_piece <= i:
            mine.append(pieces[next_piece])
            next_piece += 1
        words.append(tuple(mine))
    spacing = duration / len(chunks) / send_speedup
    return SpokenPart(text, chunks, tuple(words), duration, spacing)
