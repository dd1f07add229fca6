"""One Silero model call for every session's speech on this event loop, off the forwarding path.

Why: one 8 kHz Silero window costs about 150 µs alone on this project's machine but under 50 µs
per stream in a batch of 32 (docs/audio.md), and a relay carries many calls on one loop. Caller
audio is forwarded first; the windows the energy gate cannot decide wait here for up to
`BATCH_DELAY_S` and are then decided together (`drain_batched`), and each session gets its
transitions through a callback. Speech decisions arrive a few milliseconds later than the audio,
which nothing depends on: the guard's evidence windows and the client-VAD pre-roll are hundreds of
milliseconds wide.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable

from liveguard.audio.vad import SpeechDetector, SpeechTransition, drain_batched

__all__ = ["BATCH_DELAY_S", "VadBatcher"]

log = logging.getLogger(__name__)

#: how long a window may wait for others to join its batch (a 32 ms window is the unit of speech)
BATCH_DELAY_S = 0.01
#: streams decided per loop callback: a batch of 16 costs about 0.6 ms of model time (38 µs per
#: stream against 47 at 32), so one flush never holds the loop — and every call's audio — long
MAX_STREAMS_PER_RUN = 16

Done = Callable[[list[SpeechTransition]], None]

_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VadBatcher] = (
    weakref.WeakKeyDictionary()
)


class VadBatcher:
    """Collects detectors with an undecided window and decides them together."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay_s: float = BATCH_DELAY_S) -> None:
        self._loop = loop
        self._delay_s = delay_s
        self._pending: dict[SpeechDetector, Done] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.batches = 0  # model rounds run (for benchmarks and tests)
        self.streams = 0  # detector decisions run (streams summed over batches)

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop | None = None) -> VadBatcher:
        """The batcher shared by every session on `loop` (the running loop by default)."""
        loop = loop or asyncio.get_running_loop()
        batcher = _batchers.get(loop)
        if batcher is None:
            batcher = _batchers[loop] = cls(loop)
        return batcher

    def submit(self, detector: SpeechDetector, done: Done) -> None:
        """`detector` has audio pushed and a window that needs the model; `done` gets the
        transitions of everything pushed to it by the time the batch runs."""
        self._pending[detector] = done
        if self._timer is None:
            self._timer = self._loop.call_later(self._delay_s, self.flush)

    def discard(self, detector: SpeechDetector) -> None:
        """Forget a detector whose session ended (its pending audio is not decided)."""
        self._pending.pop(detector, None)

    def flush(self) -> None:
        """Decide the pending detectors now, `MAX_STREAMS_PER_RUN` at a time: the rest go on in
        the loop's next pass, after the audio that arrived meanwhile has been forwarded."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        if len(self._pending) <= MAX_STREAMS_PER_RUN:
            pending, self._pending = self._pending, {}
        else:
            items = list(self._pending.items())
            pending = dict(items[:MAX_STREAMS_PER_RUN])
            self._pending = dict(items[MAX_STREAMS_PER_RUN:])
            self._timer = self._loop.call_later(0, self.flush)
        self.batches += 1
        self.streams += len(pending)
        try:
            results = drain_batched(list(pending))
        except Exception:  # a model failure must not take the calls down: their audio still flows
            log.exception("batched VAD failed for %d streams", len(pending))
            return
        for done, transitions in zip(pending.values(), results, strict=True):
            try:
                done(transitions)
            except Exception:
                log.exception("VAD result callback failed")
