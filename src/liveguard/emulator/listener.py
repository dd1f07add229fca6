"""What the emulated model hears: caller audio in, the boundaries of the caller's turns out.

`Listener` feeds realtime audio to server-side activity detection (activity.py), or, with automatic
detection disabled, keeps the audio between `activityStart` and `activityEnd`. It collects each
turn's audio (with a short pre-roll, as the service keeps the start of speech) and reports `Heard`
boundaries; the session (model.py) decides what the model does about them. Sans-I/O, no clock:
everything is in audio time. `audio()` is the emulator's hot path (50 calls a second per session).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from liveguard.emulator.activity import ActivityDetector, ActivityEvent, VadConfig, parse_pcm_rate

if TYPE_CHECKING:
    from liveguard.emulator.model import ModelStats

__all__ = ["MAX_TURN_AUDIO_S", "PREROLL_S", "Heard", "Listener"]

MAX_TURN_AUDIO_S = 60.0  # caller audio kept for one turn's transcript; the rest is dropped
PREROLL_S = 0.3


@dataclass(frozen=True, slots=True)
class Heard:
    """A boundary of caller activity: its start, or its end with the turn's audio."""

    kind: Literal["start", "end"]
    offset_s: float  # where in the received audio it lies
    pcm: bytes = b""  # the turn's audio (end only)
    rate: int = 16000
    empty: bool = False  # a manual activity with no audio in it


class Listener:
    """Caller audio -> turn boundaries (see module docstring)."""

    def __init__(self, stats: ModelStats) -> None:
        self.stats = stats
        self.vad = VadConfig()
        self._detector: ActivityDetector | None = None
        self._preroll_s = PREROLL_S
        self._manual_open = False
        self._manual_audio_s = 0.0
        self._turn_audio = bytearray()
        self._turn_rate = 16000
        self._recent: deque[bytes] = deque()
        self._recent_bytes = 0
        self._offset_s = 0.0

    def configure(self, vad: VadConfig) -> None:
        """`realtimeInputConfig` from the setup."""
        self.vad = vad
        self._detector = None if vad.disabled else ActivityDetector(vad)
        self._preroll_s = max(PREROLL_S, vad.prefix_padding_ms / 1000 + 0.1)

    @property
    def speaking(self) -> bool:
        """The caller's activity is open (detected speech, or a manual activity)."""
        return self._manual_open or (self._detector is not None and self._detector.active)

    def audio(self, data: bytes, mime: str | None) -> list[Heard]:
        """One realtime audio blob; the boundaries it completes (usually none)."""
        rate = parse_pcm_rate(mime)
        size = len(data)
        seconds = size / 2 / rate
        stats = self.stats
        stats.audio_frames_received += 1
        stats.audio_bytes_received += size
        stats.audio_seconds_received += seconds
        self._offset_s += seconds
        detector = self._detector
        if detector is None:  # manual activity detection
            if not self._manual_open:
                stats.audio_frames_ignored += 1
                return []
            self._manual_audio_s += seconds
            self._append(data, rate)
            return []
        recent = self._recent
        if rate != self._turn_rate:
            self._turn_rate = rate
            recent.clear()
            self._recent_bytes = 0
        recent.append(data)
        kept = self._recent_bytes + size
        limit = int(self._preroll_s * rate * 2) + size
        while kept - len(recent[0]) >= limit:
            kept -= len(recent.popleft())
        self._recent_bytes = kept
        was_active = detector.active
        events = detector.feed(data, rate)
        if not events:  # the common case: no boundary in this frame
            if was_active:
                self._append(data, rate)
            return []
        if was_active and not any(e.kind == "start" for e in events):
            self._append(data, rate)
        return self._boundaries(events)

    def stream_end(self) -> list[Heard]:
        """`audioStreamEnd`: end an open detected activity now (ignored in manual mode)."""
        if self._detector is None:
            return []
        return self._boundaries(self._detector.flush())

    def activity_start(self) -> list[Heard]:
        """Manual `activityStart` (ignored under automatic detection, and when nested)."""
        if self._detector is not None or self._manual_open:
            return []
        self._manual_open = True
        self._manual_audio_s = 0.0
        self._turn_audio = bytearray()
        return [Heard("start", self._offset_s)]

    def activity_end(self) -> list[Heard]:
        """Manual `activityEnd`; `empty` when no audio came inside the activity."""
        if self._detector is not None or not self._manual_open:
            return []
        self._manual_open = False
        if self._manual_audio_s == 0.0:
            return [Heard("end", self._offset_s, empty=True)]
        return [Heard("end", self._offset_s, self._take(), self._turn_rate)]

    def _boundaries(self, events: list[ActivityEvent]) -> list[Heard]:
        out = []
        for event in events:
            if event.kind == "start":
                self._turn_audio = bytearray(b"".join(self._recent))
                out.append(Heard("start", event.offset_s))
            else:
                out.append(Heard("end", event.offset_s, self._take(), self._turn_rate))
        return out

    def _append(self, data: bytes, rate: int) -> None:
        self._turn_rate = rate
        if len(self._turn_audio) < MAX_TURN_AUDIO_S * rate * 2:
            self._turn_audio += data

    def _take(self) -> bytes:
        pcm = bytes(self._turn_audio)
        self._turn_audio = bytearray()
        return pcm
