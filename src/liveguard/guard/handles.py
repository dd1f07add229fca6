"""Every session-resumption handle with the time and turn it was taken, because the newest one can
carry a wedge ("poisoned handle"): recovery resumes from the newest handle taken *before* the
session went suspect, never blindly from the latest.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HandleRecord:
    """One `sessionResumptionUpdate` handle: when (session seconds) and in which turn it came."""

    handle: str
    t: float
    turn: int
    poisoned: bool = False


class HandleHistory:
    """Bounded history of resumption handles, oldest first.

    `poison_since(t)` marks handles taken at or after `t` as unusable (they may carry the wedge);
    `poison_all()` retires every handle (after a fresh session they belong to the abandoned one).
    Lookups skip poisoned handles unless `include_poisoned=True`.
    """

    def __init__(self, maxlen: int = 256) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self._records: deque[HandleRecord] = deque(maxlen=maxlen)
        self.resumable: bool = False  # what the latest update said

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self):
        return iter(tuple(self._records))

    def add(self, handle: str | None, t: float, turn: int, resumable: bool = True) -> None:
        """Record an update; one without a handle (or `resumable=false`) only sets `resumable`."""
        self.resumable = bool(resumable and handle)
        if handle and resumable:
            self._records.append(HandleRecord(handle=handle, t=t, turn=turn))

    def newest(self, *, include_poisoned: bool = False) -> HandleRecord | None:
        """The latest usable handle, or None."""
        for rec in reversed(self._records):
            if include_poisoned or not rec.poisoned:
                return rec
        return None

    def newest_before(self, t: float, *, include_poisoned: bool = False) -> HandleRecord | None:
        """The latest usable handle taken strictly before `t` (e.g. before the suspect event)."""
        for rec in reversed(self._records):
            if rec.t < t and (include_poisoned or not rec.poisoned):
                return rec
        return None

    def poison_since(self, t: float) -> int:
        """Mark handles taken at or after `t` as poisoned; returns how many were newly marked."""
        return self._poison(lambda rec: rec.t >= t)

    def poison_all(self) -> int:
        """Mark every handle poisoned (they belong to a session we abandoned)."""
        return self._poison(lambda rec: True)

    def _poison(self, which) -> int:
        marked = 0
        for i, rec in enumerate(self._records):
            if not rec.poisoned and which(rec):
                self._records[i] = HandleRecord(rec.handle, rec.t, rec.turn, poisoned=True)
                marked += 1
        return marked
