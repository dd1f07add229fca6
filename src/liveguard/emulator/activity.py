"""Server-side activity detection (the emulator's VAD) on the caller's PCM16 audio.

It only has to behave like the service's detector where clients can see it: speech is noticed after
`prefixPaddingMs` of loud-enough audio, a turn ends after `silenceDurationMs` of quiet, HIGH start
sensitivity detects quieter speech than LOW, LOW end sensitivity tolerates quieter tails. An energy
detector with an adaptive noise floor does that deterministically for a few microseconds per 20 ms
frame, which is what lets one emulator core carry hundreds of real-time sessions.

Time here is *audio* time (samples received), not wall-clock time: a client that sends faster than
real time gets the same turn boundaries, and tests are exact.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["ActivityDetector", "ActivityEvent", "VadConfig", "parse_pcm_rate"]

FRAME_MS = 20

_START_DB = {"START_SENSITIVITY_HIGH": -48.0, "START_SENSITIVITY_LOW": -38.0}
_START_MIN_MS = {"START_SENSITIVITY_HIGH": 20, "START_SENSITIVITY_LOW": 100}
_END_HYSTERESIS_DB = {"END_SENSITIVITY_HIGH": 3.0, "END_SENSITIVITY_LOW": 9.0}
_END_DEFAULT_MS = {"END_SENSITIVITY_HIGH": 500, "END_SENSITIVITY_LOW": 1000}
_FLOOR_MARGIN_DB = 12.0
_FLOOR_RISE_DB = 0.05  # per frame: the noise floor follows the quietest audio, and rises slowly
_FULL_SCALE = 32768.0 * 32768.0
_EMPTY = np.zeros(0, dtype=np.float32)
_I16 = np.dtype("<i2")  # a dtype object: a "<i2" string is parsed again on every call
_F32 = np.float32
_log10 = math.log10
_SILENCE_DB = 10.0 * _log10(1e-12)  # the level of an all-zero frame, as computed below


@dataclass(frozen=True, slots=True)
class VadConfig:
    """`realtimeInputConfig` as the emulator uses it (defaults per spec §8.1)."""

    disabled: bool = False
    start_sensitivity: str = "START_SENSITIVITY_HIGH"
    end_sensitivity: str = "END_SENSITIVITY_HIGH"
    prefix_padding_ms: int = 20
    silence_duration_ms: int | None = None
    activity_handling: str = "START_OF_ACTIVITY_INTERRUPTS"
    turn_coverage: str = "TURN_INCLUDES_ONLY_ACTIVITY"

    @classmethod
    def from_setup(cls, config: dict | None) -> VadConfig:
        """From the (snake_case, parsed) `realtime_input_config` of a setup message."""
        config = config or {}
        aad = config.get("automatic_activity_detection") or {}
        start = str(aad.get("start_of_speech_sensitivity") or "").upper()
        end = str(aad.get("end_of_speech_sensitivity") or "").upper()
        handling = str(config.get("activity_handling") or "").upper()
        prefix = aad.get("prefix_padding_ms")
        silence = aad.get("silence_duration_ms")
        return cls(
            disabled=bool(aad.get("disabled", False)),
            start_sensitivity=start if start in _START_DB else "START_SENSITIVITY_HIGH",
            end_sensitivity=end if end in _END_HYSTERESIS_DB else "END_SENSITIVITY_HIGH",
            prefix_padding_ms=max(0, int(prefix)) if prefix is not None else 20,
            silence_duration_ms=max(0, int(silence)) if silence is not None else None,
            activity_handling=(
                "NO_INTERRUPTION"
                if handling == "NO_INTERRUPTION"
                else "START_OF_ACTIVITY_INTERRUPTS"
            ),
            turn_coverage=str(config.get("turn_coverage") or "TURN_INCLUDES_ONLY_ACTIVITY").upper(),
        )

    @property
    def interrupts(self) -> bool:
        return self.activity_handling != "NO_INTERRUPTION"


@dataclass(frozen=True, slots=True)
class ActivityEvent:
    """Start or end of caller activity; `offset_s` is where in the received audio it lies."""

    kind: Literal["start", "end"]
    offset_s: float


@functools.lru_cache(maxsize=64)
def parse_pcm_rate(mime_type: str | None, default: int = 16000) -> int:
    """`audio/pcm;rate=24000` -> 24000 (the service resamples whatever rate is declared)."""
    if not mime_type:
        return default
    for param in mime_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "rate":
            try:
                rate = int(value.strip())
            except ValueError:
                return default
            return rate if 1000 <= rate <= 192000 else default
    return default


class ActivityDetector:
    """Energy VAD over fixed 20 ms frames of audio time; feed() returns start/end events."""

    def __init__(self, config: VadConfig) -> None:
        self.config = config
        self._on_db = _START_DB[config.start_sensitivity]
        self._end_hysteresis_db = _END_HYSTERESIS_DB[config.end_sensitivity]
        self._hold_db = self._on_db - self._end_hysteresis_db
        self._start_frames = max(
            1,
            math.ceil(
                max(config.prefix_padding_ms, _START_MIN_MS[config.start_sensitivity]) / FRAME_MS
            ),
        )
        silence_ms = config.silence_duration_ms
        if silence_ms is None:
            silence_ms = _END_DEFAULT_MS[config.end_sensitivity]
        self._end_frames = max(1, math.ceil(silence_ms / FRAME_MS))
        self._floor_db = -90.0
        self._carry = _EMPTY
        self._carry_rate = 0
        self._raw = bytearray()  # the hot path's scratch buffers (one 20 ms frame)
        self._i16 = np.frombuffer(self._raw, dtype=_I16)
        self._f32 = _EMPTY
        self.samples_received = 0.0  # in seconds of audio, across rates
        self._frames_done = 0
        self.active = False
        self._run = 0  # consecutive speech frames (before a start) or silent frames (in activity)
        self._run_start_s = 0.0
        self._last_speech_end_s = 0.0

    @property
    def offset_s(self) -> float:
        """Seconds of audio received so far."""
        return self.samples_received

    def feed(self, pcm16: bytes, rate: int = 16000) -> list[ActivityEvent]:
        """Consume one audio chunk; return the activity boundaries it completes (usually none)."""
        frame = max(1, rate * FRAME_MS // 1000)
        if rate == self._carry_rate and len(pcm16) == 2 * frame and not len(self._carry):
            # the hot path (50 a second per session): exactly one 20 ms frame, nothing carried.
            # The samples go through this detector's own buffers, not new arrays: the same
            # float32 values and dot product as `np.frombuffer(...).astype(np.float32)`, for
            # half the cost.
            if pcm16.count(0) == len(pcm16):  # digital silence (muted or idle callers): no math
                return self._level(_SILENCE_DB, frame / rate)
            raw = self._raw
            if len(raw) != len(pcm16):
                raw = self._raw = bytearray(len(pcm16))
                self._i16 = np.frombuffer(raw, dtype=_I16)
                self._f32 = np.empty(frame, dtype=_F32)
            raw[:] = pcm16
            x = self._f32
            x[:] = self._i16
            level = 10.0 * _log10(float(x.dot(x)) / frame / _FULL_SCALE + 1e-12)
            return self._level(level, frame / rate)
        usable = len(pcm16) - (len(pcm16) % 2)
        x = np.frombuffer(pcm16, dtype="<i2", count=usable // 2).astype(np.float32)
        if rate != self._carry_rate:
            self._carry = _EMPTY
            self._carry_rate = rate
        if len(self._carry):
            x = np.concatenate([self._carry, x])
        n = len(x) // frame
        if n == 1:  # the common case: one 20 ms chunk
            if len(x) > frame:
                self._carry = x[frame:]
                x = x[:frame]
            else:
                self._carry = _EMPTY
            levels = [10.0 * math.log10(float(np.dot(x, x)) / frame / _FULL_SCALE + 1e-12)]
        else:
            self._carry = x[n * frame :]
            if n == 0:
                return []
            frames = x[: n * frame].reshape(n, frame)
            power = np.einsum("ij,ij->i", frames, frames) / frame
            levels = (10.0 * np.log10(power / _FULL_SCALE + 1e-12)).tolist()
        return self._levels(levels, frame / rate)

    def _level(self, level: float, frame_s: float) -> list[ActivityEvent]:
        """`_levels((level,), frame_s)` for the hot path: one frame, and usually no boundary."""
        t0 = self.samples_received
        self.samples_received = t0 + frame_s
        floor_db = self._floor_db
        if level < floor_db:
            floor_db = self._floor_db = max(level, -90.0)
        else:
            floor_db = self._floor_db = min(floor_db + _FLOOR_RISE_DB, 0.0)
        floor = floor_db + _FLOOR_MARGIN_DB
        if not self.active:
            if level > max(self._on_db, floor):
                if self._run == 0:
                    self._run_start_s = t0
                self._run += 1
                if self._run >= self._start_frames:
                    self.active = True
                    self._run = 0
                    self._last_speech_end_s = self.samples_received
                    return [ActivityEvent("start", self._run_start_s)]
            else:
                self._run = 0
        elif level > max(self._hold_db, floor - self._end_hysteresis_db):
            self._run = 0
            self._last_speech_end_s = self.samples_received
        else:
            self._run += 1
            if self._run >= self._end_frames:
                self.active = False
                self._run = 0
                return [ActivityEvent("end", self._last_speech_end_s)]
        return []

    def _levels(self, levels: Sequence[float], frame_s: float) -> list[ActivityEvent]:
        """Advance the detector by one frame per level (dBFS); the boundaries they complete."""
        events: list[ActivityEvent] = []
        for level in levels:
            events += self._level(level, frame_s)
        return events

    def flush(self) -> list[ActivityEvent]:
        """`audioStreamEnd`: end an open activity now (the client paused its stream)."""
        self._carry = _EMPTY
        self._run = 0
        if self.active:
            self.active = False
            return [ActivityEvent("end", self._last_speech_end_s)]
        return []
