"""A bounded ring buffer of caller audio, addressable by session time.

Why: after a reconnect the model has not heard the unanswered utterance. The guard names the session
time the utterance started (`Reconnect.replay_from_t`); this buffer hands back the caller audio from
that moment on so it can be replayed upstream. It holds at most `max_seconds` of audio (the oldest
falls off), so memory per call is fixed. Pure: no I/O, no clock of its own.

It holds 1,500 frames per call at 30 s: kept as a deque of start times and a deque of bytes (values
the garbage collector never tracks), not as 1,500 objects it would walk on every full collection —
at a few hundred calls those walks were the relay's longest event-loop stalls.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Chunk:
    """One stretch of PCM16 mono audio that started at session time `t`."""

    t: float
    pcm: bytes


class AudioRingBuffer:
    """Caller audio (PCM16 mono at one `rate`) kept for the last `max_seconds`."""

    def __init__(self, rate: int = 16000, max_seconds: float = 30.0) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {max_seconds}")
        self.rate = rate
        self.max_seconds = max_seconds
        self.max_bytes = int(max_seconds * rate) * 2
        self._times: deque[float] = deque()  # start of each stretch, session time
        self._pcm: deque[bytes] = deque()
        self._bytes = 0

    # ------------------------------------------------------------------ writing

    def append(self, t: float, pcm: bytes) -> None:
        """Add audio that started at session time `t`; drop the oldest beyond the bound."""
        if len(pcm) % 2:
            raise ValueError("PCM16 audio must have an even number of bytes")
        if not pcm:
            return
        if len(pcm) > self.max_bytes:  # a single chunk larger than the whole buffer: keep its tail
            cut = len(pcm) - self.max_bytes
            t += cut / 2 / self.rate
            pcm = pcm[cut:]
        self._times.append(float(t))
        self._pcm.append(bytes(pcm))
        self._bytes += len(pcm)
        while self._bytes > self.max_bytes:
            self._evict()

    def _evict(self) -> None:
        first = self._pcm[0]
        excess = self._bytes - self.max_bytes
        if excess >= len(first):
            self._times.popleft()
            self._pcm.popleft()
            self._bytes -= len(first)
            return
        cut = excess + (excess % 2)  # whole samples only
        self._times[0] += cut / 2 / self.rate
        self._pcm[0] = first[cut:]
        self._bytes -= cut

    def clear(self) -> None:
        self._times.clear()
        self._pcm.clear()
        self._bytes = 0

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        """Bytes held."""
        return self._bytes

    @property
    def seconds(self) -> float:
        return self._bytes / 2 / self.rate

    @property
    def oldest_t(self) -> float | None:
        return self._times[0] if self._times else None

    @property
    def newest_end_t(self) -> float | None:
        if not self._times:
            return None
        return self._times[-1] + len(self._pcm[-1]) / 2 / self.rate

    def covers(self, t: float) -> bool:
        """True when the buffer still holds audio from `t` on (nothing of it has fallen off)."""
        oldest = self.oldest_t
        return oldest is not None and oldest <= t + 1e-9

    def since(self, t: float) -> list[Chunk] | None:
        """The audio from session time `t` to now, as chunks (the first trimmed to start at `t`).

        None when the buffer no longer reaches back to `t` (the caller then replays the transcript
        instead). An empty list when `t` is after the newest audio.
        """
        if not self.covers(t):
            return None
        out: list[Chunk] = []
        for start, pcm in zip(self._times, self._pcm, strict=True):
            end = start + len(pcm) / 2 / self.rate
            if end <= t:
                continue
            if start < t:
                skip = round((t - start) * self.rate) * 2
                if skip >= len(pcm):
                    continue
                out.append(Chunk(t, pcm[skip:]))
            else:
                out.append(Chunk(start, pcm))
        return out
