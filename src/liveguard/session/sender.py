"""The sender: everything a guarded session writes to the upstream socket goes through here.

Two writers, one order: the caller's own task writes an audio frame at once (`write_now`) when
nothing is queued or in flight and the socket takes it without waiting; everything else waits in
the bounded outbound queue (typed items, `session.outbound`) for the sender task (`run`), which
holds an item until it is really sent. The reconnector takes the send lock and clears `ready` to
stop both while it swaps connections; the items wait meanwhile, never dropped.

Also here: the ring buffer of what was sent (for replay), and in client-VAD mode the activity
signals and the pre-roll, decided by `ActivityGate` and `guard.policy.preroll_from`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from google.genai import types

from liveguard import events as ev
from liveguard.guard.activity import ActivityGate
from liveguard.guard.policy import preroll_from
from liveguard.session.bounds import DEFAULT_RATE, SessionBounds, SessionCounters
from liveguard.session.outbound import AudioFrame, Outbound, SpeechEdge, TextOut, ToolResponses
from liveguard.session.pipe import EventPipe
from liveguard.session.ringbuffer import AudioRingBuffer
from liveguard.session.toolrun import SessionTools
from liveguard.session.toolstate import DeliveryPlan
from liveguard.session.upstream_api import UpstreamLink

log = logging.getLogger(__name__)


class Sender:
    """Owns the outbound queue, the write path, the ring buffer and the client-VAD signals."""

    def __init__(
        self,
        pipe: EventPipe,
        stats: SessionCounters,
        activity: ActivityGate,
        bounds: SessionBounds,
        *,
        client_vad: bool,
    ) -> None:
        self.pipe = pipe
        self.stats = stats
        self.activity = activity
        self.client_vad = client_vad
        self.preroll_s = bounds.preroll_s
        self.ring_seconds = bounds.ring_seconds
        #: caller audio as sent upstream (so replayed and queued audio never overlap)
        self.ring = AudioRingBuffer(bounds.upstream_rate or DEFAULT_RATE, bounds.ring_seconds)
        self.queue: asyncio.Queue[Outbound] = asyncio.Queue(maxsize=bounds.queue_frames)
        self.up: UpstreamLink | None = None  # the current connection (the reconnector sets it)
        self.ready = asyncio.Event()  # an upstream is open and may be written to
        self.lock = asyncio.Lock()  # held for every write, and by the reconnector for a swap
        self.pending = 0  # items queued and not yet written
        #: called with the seconds from `send_audio(received_at=...)` to the frame being on the
        #: upstream socket (the relay's forwarding-time metric) and the frame's seconds of audio
        self.on_forwarded: Callable[[float, float], None] | None = None
        #: the session's tool shell: its ledger routes each tool result (session/toolstate.py)
        self.tools: SessionTools | None = None
        self._routed: list[ev.Event] = []

    def fix_rate(self, rate: int) -> None:
        """The first frame fixed the upstream rate: the (still empty) ring buffer follows it."""
        if self.ring.rate != rate:
            self.ring = AudioRingBuffer(rate, self.ring_seconds)

    # ------------------------------------------------------------------ the caller's side

    async def enqueue(self, item: Outbound) -> None:
        """Queue an item for the sender task; waits while the queue is full."""
        self.pending += 1  # counted until the sender has written it (task_done)
        await self.queue.put(item)
        depth = self.queue.qsize()
        if depth > self.stats.max_queued:
            self.stats.max_queued = depth

    def write_now(self, frame: AudioFrame) -> bool:
        """Write caller audio from the caller's task, without a wait, when nothing is queued or
        in flight (so order is kept) and the socket can take it at once. False: queue it."""
        up = self.up
        if (
            self.pending
            or up is None
            or not self.ready.is_set()
            or self.lock.locked()
            or not up.try_send_audio(frame.pcm, self.ring.rate)
        ):
            return False
        self._audio_sent(frame)
        return True

    async def drained(self) -> None:
        await self.queue.join()

    # ------------------------------------------------------------------ the sender task

    async def run(self) -> None:
        """The queue's only reader; holds an item until it is really sent."""
        while True:
            item = await self.queue.get()
            try:
                await self._deliver(item)
            finally:
                self.pending -= 1
                self.queue.task_done()

    async def _deliver(self, item: Outbound) -> None:
        while True:
            await self.ready.wait()
            async with self.lock:
                if not self.ready.is_set():
                    continue
                up = self.up
                try:
                    signals = await self._write(up, item)
                except Exception as exc:  # the socket went away: keep the item
                    log.debug("send failed (%s); waiting for upstream", exc)
                    if up is self.up:
                        self.ready.clear()
                    continue
            await self.report(signals)
            if self._routed:
                await self.flush_routed()
            return

    async def _write(self, up: UpstreamLink | None, item: Outbound) -> list[str]:
        """Write one queued item; returns the activity signals it sent (to report)."""
        assert up is not None
        if isinstance(item, AudioFrame):
            await up.send_audio(item.pcm, self.ring.rate)
            self._audio_sent(item)
        elif isinstance(item, TextOut):
            await up.send_text(item.text)
            self.stats.texts_sent += 1
        elif isinstance(item, SpeechEdge):  # client VAD: the gate decides, in order with audio
            sent = await self.send_signals(up, self.activity.feed(item.event))
            start = preroll_from(sent, item.speech_at, self.preroll_s)
            if start is not None:
                await self._preroll(up, start)
            return sent
        elif isinstance(item, ToolResponses):
            if self.tools is None:
                await up.send_tool_response(list(item.responses))
            else:
                plan = self.tools.ledger.route(item.responses)
                self._routed += await self.write_results(up, plan)
        return []

    async def write_results(
        self, up: UpstreamLink, plan: DeliveryPlan, resent: bool = False
    ) -> list[ev.Event]:
        """Write tool results as the ledger routed them: a `toolResponse` where the session knows
        the call, else clientContent (and a nudge to speak about it unless SILENT). Returns the
        `ToolResultRouted` events to report once the send lock is released."""
        assert self.tools is not None
        if plan.responses:
            await up.send_tool_response(plan.responses)
        if plan.context:
            await up.send_seed(plan.context_turns())
            if any(r.scheduling != types.FunctionResponseScheduling.SILENT for r in plan.context):
                await up.send_text(plan.nudge)
        self.tools.ledger.delivered(plan)
        self.tools.changed.set()
        t = self.pipe.now()
        routes = (
            ("resent" if resent else "", [r.id or "" for r in plan.responses]),
            ("context", [r.id or "" for r in plan.context]),
            ("dropped", plan.dropped),
        )
        return [
            ev.ToolResultRouted(t=t, ids=tuple(ids), route=route)
            for route, ids in routes
            if route and ids
        ]

    async def flush_routed(self) -> None:
        """Report the routing events of tool results written under the lock."""
        routed, self._routed = self._routed, []
        for event in routed:
            await self.pipe.process(event)

    async def _preroll(self, up: UpstreamLink, start: float) -> None:
        """Send the ring's audio from `start` (or its oldest) again, right after activityStart."""
        for chunk in self.ring.since(max(start, self.ring.oldest_t or 0.0)) or ():
            await up.send_audio(chunk.pcm, self.ring.rate)
            self.stats.preroll_frames += 1

    def _audio_sent(self, frame: AudioFrame) -> None:
        self.ring.append(frame.t, frame.pcm)
        self.stats.frames_sent += 1
        if frame.received_at is not None and self.on_forwarded is not None:
            seconds = len(frame.pcm) / 2 / self.ring.rate
            self.on_forwarded(time.perf_counter() - frame.received_at, seconds)

    # ------------------------------------------------------------------ activity signals

    async def send_signals(self, up: UpstreamLink, signals: list[ev.ActivitySignal]) -> list[str]:
        """Put the activity gate's signals on the wire; returns their kinds."""
        for sig in signals:
            await up.send_activity(sig.kind)
            self.stats.activity_signals += 1
        return [sig.kind for sig in signals]

    async def report(self, kinds: list[str]) -> None:
        """One `ActivitySignal` event per signal sent."""
        for kind in kinds:
            await self.pipe.process(ev.ActivitySignal(t=self.pipe.now(), kind=kind))

    async def gate_lifecycle(self, event: ev.Event, up: UpstreamLink | None) -> None:
        """Client VAD: tell the activity gate about a connection event; send what it opens."""
        if not self.client_vad:
            return
        signals = self.activity.feed(event)
        if signals and up is not None:
            await self.report(await self.send_signals(up, signals))

    async def close_activity(self, up: UpstreamLink) -> None:
        """Client VAD, before we close `up`: end the open activity on it first."""
        if not self.client_vad:
            return
        ends = self.activity.closing(self.pipe.now())
        try:
            kinds = await self.send_signals(up, ends)
        except Exception as exc:  # the socket is already gone: the activity died with it
            log.debug("activityEnd before close failed: %s", exc)
            kinds = []
        await self.report(kinds)
