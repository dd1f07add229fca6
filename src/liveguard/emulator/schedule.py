"""The emulated model's time queue: what happens later, in time order, tied to its generation.

Why separate from model.py: paced audio, turnComplete after playback, goAway and timed faults are
all "at t, do this"; an action tied to a generation is dropped once that generation is cancelled
(a barge-in), so the turn flow never has to find and remove its pending steps.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

OutT = TypeVar("OutT")  # what an action returns a list of


class Schedule(Generic[OutT]):
    """Actions `(t, action)` with an optional owner whose `cancelled` flag drops them."""

    def __init__(self) -> None:
        self._queue: list[tuple[float, int, Any, Callable[[float], list[OutT]]]] = []
        self._seq = itertools.count()  # ties run in the order they were scheduled

    def __len__(self) -> int:
        return len(self._queue)

    def at(self, t: float, owner: Any, action: Callable[[float], list[OutT]]) -> None:
        heapq.heappush(self._queue, (t, next(self._seq), owner, action))

    def clear(self) -> None:
        self._queue.clear()

    def any_due(self, now: float) -> bool:
        """Something (perhaps cancelled) is due by `now`: the cheap check for the hot path."""
        return bool(self._queue) and self._queue[0][0] <= now

    def run_due(self, now: float, stop: Callable[[], bool]) -> list[OutT]:
        """Run every live action due by `now`, in order, until `stop()` says so (a close)."""
        out: list[OutT] = []
        queue = self._queue
        while queue and not stop():
            t, _, owner, action = queue[0]
            if owner is not None and owner.cancelled:
                heapq.heappop(queue)
                continue
            if t > now:
                break
            heapq.heappop(queue)
            out.extend(action(t))
        return out

    def next_time(self) -> float | None:
        """When the next live action is due (cancelled ones are dropped on the way)."""
        queue = self._queue
        while queue and queue[0][2] is not None and queue[0][2].cancelled:
            heapq.heappop(queue)
        return queue[0][0] if queue else None
