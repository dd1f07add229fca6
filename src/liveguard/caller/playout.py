"""The simulated caller's loudspeaker: what the caller has heard, and when each marker is due.

Why a plain object: playout is bookkeeping over time (audio scheduled back to back at real time,
a clear dropping what is still buffered, markers due when the audio before them has played), so
it is fed the clock and the relay's messages and never sleeps or sends; the caller's asyncio loops
do that with what it answers.
"""

from __future__ import annotations

from collections import deque

RATE = 8000  # μ-law 8 kHz: one byte per sample


class Playout:
    """Audio scheduled for playing, cleared audio removed, and the markers waiting to be echoed."""

    def __init__(self, max_record_s: float) -> None:
        self.play_end = 0.0  # when the audio scheduled so far has finished playing
        self.scheduled_s = 0.0
        self.cleared_s = 0.0
        self.clears = 0
        self.heard = bytearray()  # μ-law, bounded by `max_record_s`
        self._heard_cap = int(max_record_s * RATE)
        self.marks: deque[tuple[float, str]] = deque()  # (due, name), in arrival order

    def add_audio(self, now: float, audio: bytes) -> float:
        """Schedule `audio` after what is already playing; returns its length in seconds."""
        secs = len(audio) / RATE
        self.play_end = max(now, self.play_end) + secs
        self.scheduled_s += secs
        if len(self.heard) + len(audio) <= self._heard_cap:
            self.heard += audio
        return secs

    def add_mark(self, now: float, name: str) -> None:
        """A marker is echoed once the audio sent before it has played."""
        self.marks.append((max(now, self.play_end), name))

    def clear(self, now: float, *, echo_marks: bool) -> None:
        """Drop the unplayed audio; pending markers fall due now (`echo_marks`) or are dropped."""
        unplayed = max(0.0, self.play_end - now)
        self.cleared_s += unplayed
        drop = min(len(self.heard), round(unplayed * RATE))
        if drop:
            del self.heard[-drop:]
        self.play_end = now
        self.clears += 1
        if echo_marks:
            self.marks = deque((now, name) for _, name in self.marks)
        else:
            self.marks.clear()

    def heard_s(self, now: float) -> float:
        """Seconds of audio played by `now` (scheduled, not cleared, not still to come)."""
        return self.scheduled_s - self.cleared_s - max(0.0, self.play_end - now)

    def playing(self, now: float) -> bool:
        return self.play_end > now
