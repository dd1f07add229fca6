"""Playout markers and their echoes, sans-I/O: what the caller heard and what is still queued.

Why one tracker: every carrier (Twilio included) sends a marker after model audio and learns from
its echo that the caller heard it; a barge-in clears the queue and the echoes of cleared markers
must then be recognised. The bookkeeping is the same whatever the markers are called on the wire.
"""

from __future__ import annotations

from collections import deque

from liveguard.transports.stream_items import MarkPlayed

__all__ = ["MAX_PENDING_MARKS", "PlayoutTracker"]

MAX_PENDING_MARKS = 4096  # a peer that never echoes markers cannot grow memory
_CLEARED_MEMORY = 4096  # cleared marker names remembered to recognise their late echoes


class PlayoutTracker:
    """Markers sent after model audio and their echoes: what the caller heard and what is queued.

    Echoes come back in order, so one confirms every marker before it. After `clear()` the
    pending markers are remembered as cleared: a carrier that echoes them (Twilio, Telnyx) gets a
    `MarkPlayed(cleared=True)`, which adds nothing to `played_s`.
    """

    def __init__(self) -> None:
        self.marks_sent = 0
        self.sent_s = 0.0
        self.played_s = 0.0
        self.cleared_s = 0.0
        self._unmarked_s = 0.0
        self._pending: deque[tuple[str, float]] = deque()
        self._pending_s = 0.0
        self._cleared: deque[str] = deque(maxlen=_CLEARED_MEMORY)
        self._cleared_set: set[str] = set()

    @property
    def unplayed_s(self) -> float:
        return max(0.0, self._pending_s) + self._unmarked_s

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def has_unmarked(self) -> bool:
        return self._unmarked_s > 0 or bool(self._pending)

    def sent(self, seconds: float) -> None:
        self.sent_s += seconds
        self._unmarked_s += seconds

    def mark(self, kind: str = "c") -> str:
        """A new marker name covering the audio sent since the last one ("t…" ends a turn)."""
        self.marks_sent += 1
        name = f"{kind}{self.marks_sent}"
        if len(self._pending) >= MAX_PENDING_MARKS:  # fold the oldest two into one
            _, secs = self._pending.popleft()
            n2, secs2 = self._pending.popleft()
            self._pending.appendleft((n2, secs + secs2))
        self._pending.append((name, self._unmarked_s))
        self._pending_s += self._unmarked_s
        self._unmarked_s = 0.0
        return name

    def echoed(self, name: str) -> MarkPlayed | None:
        """The carrier echoed `name`; None when we never sent it (the caller reports an error)."""
        if name in self._cleared_set:
            return MarkPlayed(name, self.played_s, cleared=True)
        if not any(n == name for n, _ in self._pending):
            return None
        while self._pending:
            n, secs = self._pending.popleft()
            self._pending_s -= secs
            self.played_s += secs
            if n == name:
                break
        if not self._pending:
            self._pending_s = 0.0
        return MarkPlayed(name, self.played_s)

    def clear(self, carry_s: float = 0.0) -> float:
        """Everything queued is dropped; returns the seconds the caller will not hear."""
        unplayed = self.unplayed_s + carry_s
        for name, _ in self._pending:
            if len(self._cleared) == self._cleared.maxlen:
                self._cleared_set.discard(self._cleared[0])
            self._cleared.append(name)
            self._cleared_set.add(name)
        self._pending.clear()
        self._pending_s = 0.0
        self._unmarked_s = 0.0
        self.cleared_s += unplayed
        return unplayed
