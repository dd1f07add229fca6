"""VAD feeding: the local Silero VAD on every caller frame, its decisions as events, in order.

The VAD runs after the frame went upstream (forwarding first): windows the energy gate decides are
decided on the spot, the rest join the event loop's batch (`VadBatcher`) and come back a few
milliseconds later. Either way the transitions queue up (bounded) for one task (`run`) that turns
them into `CallerSpeechStarted` / `CallerSpeechEnded` for the guard, and in client-VAD mode also
queues them for the sender, in order with the audio (the activity signals and the pre-roll).
"""

from __future__ import annotations

import asyncio
import logging

from liveguard import events as ev
from liveguard.audio.vad import SpeechDetector, SpeechTransition
from liveguard.config.settings import VadSettings
from liveguard.session.outbound import SpeechEdge
from liveguard.session.pipe import EventPipe
from liveguard.session.sender import Sender
from liveguard.session.vadbatch import VadBatcher

log = logging.getLogger(__name__)

TRANSITIONS_QUEUE = 256


class SpeechFeed:
    """One session's speech detector and the task that reports what it decides."""

    def __init__(
        self, pipe: EventPipe, sender: Sender, vad: VadSettings, *, client_vad: bool
    ) -> None:
        self.pipe = pipe
        self.sender = sender
        self.vad = vad
        self.client_vad = client_vad
        self.detector: SpeechDetector | None = None
        self._t = 0.0  # session time of the newest frame the detector was fed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[list[tuple[SpeechTransition, float, float]]] = asyncio.Queue(
            maxsize=TRANSITIONS_QUEUE
        )

    def feed(self, pcm: bytes, rate: int, t: float) -> None:
        """Caller audio at its own rate, which arrived at session time `t`."""
        loop = self._loop = self._loop or asyncio.get_running_loop()
        det = self.detector
        if det is None or det.vad.sample_rate != rate:  # a change of rate restarts detection
            if det is not None:
                VadBatcher.for_loop(loop).discard(det)
            vad = self.vad
            det = self.detector = SpeechDetector(
                rate,
                threshold=vad.threshold,
                neg_threshold=vad.neg_threshold,
                start_windows=vad.start_windows,
                hangover_ms=vad.hangover_ms,
            )
        self._t = t
        transitions, undecided = det.feed_gated(pcm)
        if transitions:
            self._decided(transitions)
        if undecided:
            VadBatcher.for_loop(loop).submit(det, self._decided)

    def discard(self) -> None:
        """The session ends: leave the loop's batch."""
        if self.detector is not None and self._loop is not None:
            VadBatcher.for_loop(self._loop).discard(self.detector)

    def _decided(self, transitions: list[SpeechTransition]) -> None:
        """Detector times are audio times: map them onto the session clock now (the newest frame
        arrived at `_t` and ends at the detector's time), then queue them."""
        det = self.detector
        if det is None or not transitions or self.pipe.finishing:
            return
        offset = self._t - det.time
        speech = [(tr, max(0.0, tr.t + offset), tr.speech_t + offset) for tr in transitions]
        try:
            self._queue.put_nowait(speech)
        except asyncio.QueueFull:
            log.error("speech transitions backed up; dropping %d", len(speech))

    async def run(self) -> None:
        """Caller speech starts and ends, in order: events for the guard, and in client-VAD mode
        the same edges queued behind the audio for the sender (a start with its onset time)."""
        while True:
            for tr, at, speech_at in await self._queue.get():
                if tr.kind == "start":
                    started = ev.CallerSpeechStarted(t=at)
                    await self.pipe.process(started)
                    if self.client_vad:
                        await self.sender.enqueue(SpeechEdge(started, speech_at))
                else:
                    ended = ev.CallerSpeechEnded(t=at, duration_s=tr.duration_s)
                    await self.pipe.process(ended)
                    if self.client_vad:
                        await self.sender.enqueue(SpeechEdge(ended))
