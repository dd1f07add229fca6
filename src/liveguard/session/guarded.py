"""`GuardedSession`: one caller session over any number of upstream Gemini Live connections.

The asyncio shell of liveguard. It moves bytes and executes what the guard decides; it decides
nothing itself. Four tasks run per session:

- the receiver of the current upstream connection: server messages -> events (`MessageTranslator`)
- the sender: the one writer to the upstream socket; drains the bounded outbound queue, and waits
  (queue filling, never dropping) while a reconnect is in flight
- the control task: executes `Reconnect` / `FailSession` one at a time
- the ticker: wakes at `guard.next_deadline()` and calls `guard.tick(now)`

Every event goes the same way (`_process`): telemetry sinks, the application's item stream, the
guard; what the guard returns is applied. Time is session-relative monotonic seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google import genai
from google.genai import types

from liveguard import events as ev
from liveguard.audio.resample import Resampler
from liveguard.audio.vad import SpeechDetector, SpeechTransition
from liveguard.audio.wav import WavFormatError, read_wav
from liveguard.config.settings import Settings
from liveguard.guard.actions import (
    Action,
    FailSession,
    FlushPlayback,
    PlayFallback,
    PlayFiller,
    Reconnect,
    SendText,
)
from liveguard.guard.activity import ActivityGate
from liveguard.guard.machine import Guard
from liveguard.session.config import ensure_keepalive, live_config, make_client
from liveguard.session.items import (
    AudioOut,
    Item,
    LiveConfigError,
    SessionClosed,
    SessionFailed,
    ToolCallOut,
)
from liveguard.session.ringbuffer import AudioRingBuffer, Chunk
from liveguard.session.translate import MessageTranslator
from liveguard.session.upstream import UpstreamConnection, close_info
from liveguard.session.vadbatch import VadBatcher

log = logging.getLogger(__name__)

DEFAULT_RATE = 16000
CALLER_RATES = (8000, 16000)
_FRAME_MS_MAX = 1000  # one send_audio call carries at most this much audio
_END = object()

EventSink = Callable[[ev.Event], None]


@dataclass(slots=True)
class SessionStats:
    """Counters an operator or a test compares with the other side's."""

    frames_in: int = 0  # send_audio calls accepted
    frames_sent: int = 0  # caller audio messages written upstream (live audio only)
    replay_frames: int = 0  # audio messages re-sent from the ring buffer after a reconnect
    preroll_frames: int = 0  # client VAD: audio re-sent right after activityStart
    texts_sent: int = 0
    activity_signals: int = 0
    connects: int = 0  # successful upstream connects, the first included
    connect_failures: int = 0
    max_queued: int = 0  # deepest the outbound queue got


class GuardedSession:
    """An async context manager and async iterator of `Item`s; see docs/session.md.

    ```
    async with GuardedSession(settings, client=client) as session:
        ... await session.send_audio(pcm, 8000) ...
        async for item in session: ...
    ```
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        client: genai.Client | None = None,
        session_id: str | None = None,
        transport: str = "library",
        on_event: Iterable[EventSink] = (),
        headers: dict[str, str] | None = None,
        context_window_compression: types.ContextWindowCompressionConfig | dict | None = None,
        extra_config: dict[str, Any] | None = None,
        greeting: str | bool | None = True,
        ring_seconds: float = 30.0,
        upstream_rate: int | None = None,
        queue_seconds: float = 60.0,
        replay_speed: float = 4.0,
        preroll_ms: int = 300,
        max_items: int = 2000,
        max_connect_failures: int = 4,
        resume_handle: str | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.client = client if client is not None else make_client(self.settings)
        if client is not None:
            ensure_keepalive(client, self.settings)
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.transport = transport
        self.on_event: list[EventSink] = list(on_event)
        self._headers = dict(headers or {})
        self._compression = context_window_compression
        self._extra = dict(extra_config or {})
        if greeting is True:
            self._greeting = self.settings.greeting
        else:
            self._greeting = greeting or None
        if replay_speed <= 0:
            raise ValueError("replay_speed must be positive")
        self._replay_speed = replay_speed
        self._preroll_s = preroll_ms / 1000.0
        self._max_connect_failures = max_connect_failures
        #: continue an earlier conversation (e.g. a caller who reconnected, on any relay)
        self._resume_handle = resume_handle or None
        self.client_vad = self.settings.vad.mode == "client"

        self.guard = Guard(self.settings.guard)
        # the guard's TurnTracker is the one source of the incident's caller-transcript fields
        self.translator = MessageTranslator(caller=self.guard.turns)
        if upstream_rate is not None and upstream_rate not in CALLER_RATES:
            raise ValueError(f"upstream_rate must be one of {CALLER_RATES} or None")
        #: the rate caller audio goes upstream at: fixed by the first frame unless given (the
        #: service resamples any declared rate, so phone audio goes at 8 kHz, unresampled)
        self.upstream_rate = upstream_rate
        self._ring_seconds = ring_seconds
        self.ring = AudioRingBuffer(upstream_rate or DEFAULT_RATE, ring_seconds)
        self.stats = SessionStats()
        self.handles: deque[ev.ResumptionUpdate] = deque(maxlen=512)
        self.health = "healthy"
        self.failure: SessionFailed | None = None

        # bounded queues: 20 ms frames is the smallest unit a caller sends
        self._out: asyncio.Queue[tuple] = asyncio.Queue(maxsize=max(50, int(queue_seconds * 50)))
        self._items: asyncio.Queue[Any] = asyncio.Queue(maxsize=max_items)
        self._control: asyncio.Queue[Action] = asyncio.Queue(maxsize=32)
        self._ready = asyncio.Event()  # an upstream is open and may be written to
        self._wake = asyncio.Event()  # the guard's next deadline may have moved
        self._done = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._up: UpstreamConnection | None = None
        self._recv_task: asyncio.Task | None = None
        self._tasks: list[asyncio.Task] = []
        self._t0 = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._attempt = 0
        self._failures_in_row = 0
        self._closing = False
        # client VAD: decides activityStart / activityEnd; fed speech events by the sender (in
        # order with the audio) and connection events by the lifecycle code, both under the send
        # lock, so its view of "open on the current connection" is the wire's
        self.activity = ActivityGate(connected=False)
        self._detector: SpeechDetector | None = None
        self._vad_t = 0.0  # session time of the newest frame the detector was fed
        self._vad_events: asyncio.Queue[list[SpeechTransition]] = asyncio.Queue(maxsize=256)
        self._resamplers: dict[int, Resampler] = {}
        self._finishing = False
        self._pending = 0  # items enqueued and not yet written by the sender
        #: called with the seconds from `send_audio(received_at=...)` to the frame being on the
        #: upstream socket (the relay's forwarding-time metric) and the frame's seconds of audio
        self.on_forwarded: Callable[[float, float], None] | None = None
        #: the application's synchronous sink, tried before the item stream while that stream is
        #: empty: `deliver_now(item)` returns True when it handled the item (a relay wrote the
        #: audio to its caller) from the session's receiving task, saving a hop through the
        #: iterator (a loop iteration of latency, and a task wake-up per model chunk)
        self.deliver_now: Callable[[Any], bool] | None = None

    # ================================================================== public API

    def now(self) -> float:
        """Seconds since the session started (monotonic)."""
        return (self._loop.time() - self._t0) if self._loop else 0.0

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    @property
    def ended(self) -> bool:
        return self._done.is_set()

    async def __aenter__(self) -> GuardedSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect the first upstream; raises `LiveConfigError` / `SessionFailed` if refused."""
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        sdk_version = getattr(genai, "__version__", "")
        await self._process(
            ev.SessionStarted(
                t=0.0,
                session_id=self.session_id,
                transport=self.transport,
                model=self.settings.model,
                vad_mode=self.settings.vad.mode,
                sdk_version=sdk_version,
            )
        )
        failure = await self._connect("initial", self._resume_handle)
        if failure is not None:
            code, reason = failure
            # logged for telemetry, not fed to the guard: a refused start is the caller's to handle
            closed = ev.UpstreamClosed(t=self.now(), code=code, reason=reason, side="server")
            await self._process(closed, feed_guard=False)
            cls = LiveConfigError if code == 1007 else SessionFailed
            self.failure = cls(f"upstream refused the session: {code} {reason}".strip(), code)
            await self._finish(f"connect failed: {code} {reason}".strip())
            raise self.failure
        self._tasks = [
            asyncio.create_task(self._guarded(self._sender()), name="lg-sender"),
            asyncio.create_task(self._guarded(self._control_loop()), name="lg-control"),
            asyncio.create_task(self._guarded(self._ticker()), name="lg-ticker"),
            asyncio.create_task(self._guarded(self._speech_loop()), name="lg-speech"),
        ]
        self._ready.set()
        if self._greeting:
            await self._enqueue(("text", self._greeting))

    def __aiter__(self) -> AsyncIterator[Item]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Item]:
        while True:
            try:
                item = self._items.get_nowait()
            except asyncio.QueueEmpty:
                if self._done.is_set():
                    return
                item = await self._items.get()
            if item is _END:
                return
            yield item

    async def send_audio(
        self, pcm: bytes, rate: int = DEFAULT_RATE, *, received_at: float | None = None
    ) -> None:
        """Caller audio: PCM16 mono little-endian at 8 or 16 kHz, any frame size up to 1 s.

        Writes it upstream at the session's upstream rate (by default the first frame's rate: the
        service resamples whatever rate the MIME type declares) right away when nothing else is
        queued or being written (the common case: no hop through the sender task), else queues
        it; then feeds the local VAD, whose decisions follow a few milliseconds later.
        Audio sent while a reconnect is in flight waits in the (bounded) queue and is delivered
        after; when the queue is full this call waits. `received_at` (`time.perf_counter()` when
        the transport got the frame) makes the session report the frame's forwarding time to
        `on_forwarded` once it is on the upstream socket.
        """
        self._check_open()
        if rate not in CALLER_RATES:
            raise ValueError(f"caller audio rate must be one of {CALLER_RATES}, got {rate}")
        if len(pcm) % 2:
            raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
        if len(pcm) > rate * 2 * _FRAME_MS_MAX // 1000:
            raise ValueError(f"audio frame of {len(pcm)} bytes is longer than {_FRAME_MS_MAX} ms")
        if not pcm:
            return
        t = self.now()
        if self.upstream_rate is None:  # the first frame fixes the session's upstream rate
            self.upstream_rate = rate
            if self.ring.rate != rate:
                self.ring = AudioRingBuffer(rate, self._ring_seconds)
        up_rate = self.upstream_rate
        if rate != up_rate:
            resampler = self._resamplers.get(rate)
            if resampler is None:
                resampler = self._resamplers[rate] = Resampler(rate, up_rate)
            up_pcm = resampler.process(pcm)
        else:
            up_pcm = bytes(pcm)
        self.stats.frames_in += 1
        if not (self._pending == 0 and self._write_now(t, up_pcm, received_at)):
            await self._enqueue(("audio", t, up_pcm, received_at))
        self._feed_vad(pcm, rate, t)

    async def send_text(self, text: str) -> None:
        """Caller text (realtime `text`, which every Live model accepts mid-session)."""
        self._check_open()
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text must be a non-empty string")
        await self._process(ev.CallerText(t=self.now(), text=text))
        await self._enqueue(("text", text))

    async def send_tool_response(self, responses: list[types.FunctionResponse]) -> None:
        """Answer a `ToolCallOut` (function responses need the call's `id`)."""
        self._check_open()
        responses = list(responses)
        await self._process(ev.ToolResponse(t=self.now(), ids=tuple(r.id or "" for r in responses)))
        await self._enqueue(("tool", responses))

    def add_event_sink(self, sink: EventSink) -> None:
        self.on_event.append(sink)

    async def close(self, reason: str = "closed") -> None:
        """End: deliver queued caller audio (briefly), close upstream, end the item stream."""
        if self._done.is_set():
            return
        self._closing = True
        if self._ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained(), timeout=2.0)
        await self._finish(reason)

    # ================================================================== input path

    def _feed_vad(self, pcm: bytes, rate: int, t: float) -> None:
        """Local Silero VAD at the caller's rate, after the audio went upstream: windows the
        energy gate decides are decided here, the rest join this loop's batch (`VadBatcher`);
        either way the transitions reach `_speech_loop` in order."""
        det = self._detector
        if det is None or det.vad.sample_rate != rate:  # a change of rate restarts detection
            if det is not None:
                VadBatcher.for_loop(self._loop).discard(det)
            vad = self.settings.vad
            det = self._detector = SpeechDetector(
                rate,
                threshold=vad.threshold,
                neg_threshold=vad.neg_threshold,
                start_windows=vad.start_windows,
                hangover_ms=vad.hangover_ms,
            )
        self._vad_t = t
        transitions, undecided = det.feed_gated(pcm)
        if transitions:
            self._vad_decided(transitions)
        if undecided:
            VadBatcher.for_loop(self._loop).submit(det, self._vad_decided)

    def _vad_decided(self, transitions: list[SpeechTransition]) -> None:
        """Detector times are audio times: map them onto the session clock now (the newest frame
        arrived at `_vad_t` and ends at the detector's time), then queue them."""
        det = self._detector
        if det is None or not transitions or self._finishing:
            return
        offset = self._vad_t - det.time
        speech = [(tr, max(0.0, tr.t + offset), tr.speech_t + offset) for tr in transitions]
        try:
            self._vad_events.put_nowait(speech)
        except asyncio.QueueFull:
            log.error("speech transitions backed up; dropping %d", len(speech))

    async def _speech_loop(self) -> None:
        """Caller speech starts and ends, in order: events for the guard, and in client-VAD
        mode activity signals queued behind the audio (a start with where its pre-roll begins)."""
        while True:
            for tr, at, speech_at in await self._vad_events.get():
                if tr.kind == "start":
                    started = ev.CallerSpeechStarted(t=at)
                    await self._process(started)
                    if self.client_vad:
                        await self._enqueue(("speech", started, speech_at - self._preroll_s))
                else:
                    ended = ev.CallerSpeechEnded(t=at, duration_s=tr.duration_s)
                    await self._process(ended)
                    if self.client_vad:
                        await self._enqueue(("speech", ended, None))

    def _check_open(self) -> None:
        if self._done.is_set() or self._closing:
            raise SessionClosed("the session has ended")
        if self._loop is None:
            raise SessionClosed("the session has not started (use `async with`)")

    async def _enqueue(self, item: tuple) -> None:
        self._pending += 1  # counted until the sender has written it (task_done)
        await self._out.put(item)
        depth = self._out.qsize()
        if depth > self.stats.max_queued:
            self.stats.max_queued = depth

    async def _drained(self) -> None:
        await self._out.join()

    # ================================================================== sender

    async def _sender(self) -> None:
        """The only writer to the upstream socket; holds an item until it is really sent."""
        while True:
            item = await self._out.get()
            try:
                while True:
                    await self._ready.wait()
                    async with self._send_lock:
                        if not self._ready.is_set():
                            continue
                        up = self._up
                        try:
                            signals = await self._write(up, item)
                        except Exception as exc:  # the socket went away: keep the item
                            log.debug("send failed (%s); waiting for upstream", exc)
                            if up is self._up:
                                self._ready.clear()
                            continue
                    for kind in signals:
                        await self._process(ev.ActivitySignal(t=self.now(), kind=kind))
                    break
            finally:
                self._pending -= 1
                self._out.task_done()

    def _write_now(self, t: float, pcm: bytes, received_at: float | None) -> bool:
        """Write caller audio from the caller's task, without a wait, when nothing is queued or
        in flight (so order is kept) and the lean wire can take it at once. False: the caller
        queues it for the sender."""
        up = self._up
        if (
            up is None
            or not self._ready.is_set()
            or self._send_lock.locked()
            or not up.try_send_audio(pcm, self.ring.rate)
        ):
            return False
        self._audio_sent(t, pcm, received_at)
        return True

    def _audio_sent(self, t: float, pcm: bytes, received_at: float | None) -> None:
        self.ring.append(t, pcm)
        self.stats.frames_sent += 1
        if received_at is not None and self.on_forwarded is not None:
            self.on_forwarded(time.perf_counter() - received_at, len(pcm) / 2 / self.ring.rate)

    async def _write(self, up: UpstreamConnection | None, item: tuple) -> list[str]:
        """Write one queued item; returns the activity signals it sent (to report)."""
        assert up is not None
        kind = item[0]
        if kind == "audio":
            _, t, pcm, received_at = item
            await up.send_audio(pcm, self.ring.rate)
            self._audio_sent(t, pcm, received_at)
        elif kind == "text":
            await up.send_text(item[1])
            self.stats.texts_sent += 1
        elif kind == "speech":  # client VAD: the gate decides, in order with the audio
            _, event, preroll_from = item
            sent = await self._send_signals(up, self.activity.feed(event))
            if sent == ["start"] and preroll_from is not None:
                # the VAD decided a little after speech began, and the service ignores audio
                # outside an activity: send the last `preroll_ms` before the onset again
                for chunk in self.ring.since(max(preroll_from, self.ring.oldest_t or 0.0)) or ():
                    await up.send_audio(chunk.pcm, self.ring.rate)
                    self.stats.preroll_frames += 1
            return sent
        elif kind == "tool":
            await up.send_tool_response(item[1])
        return []

    async def _send_signals(
        self, up: UpstreamConnection, signals: list[ev.ActivitySignal]
    ) -> list[str]:
        """Put the activity gate's signals on the wire; returns their kinds."""
        for sig in signals:
            await up.send_activity(sig.kind)
            self.stats.activity_signals += 1
        return [sig.kind for sig in signals]

    async def _gate_lifecycle(self, event: ev.Event, up: UpstreamConnection | None) -> None:
        """Client VAD: tell the activity gate about a connection event; send what it opens."""
        if not self.client_vad:
            return
        signals = self.activity.feed(event)
        if signals and up is not None:
            for kind in await self._send_signals(up, signals):
                await self._process(ev.ActivitySignal(t=self.now(), kind=kind))

    # ================================================================== upstream lifecycle

    async def _connect(self, purpose: str, handle: str | None) -> tuple[int, str] | None:
        """Open a new upstream and start its receiver; returns (code, reason) if it was refused."""
        self._attempt += 1
        attempt = self._attempt
        connecting = ev.UpstreamConnecting(
            t=self.now(), attempt=attempt, purpose=purpose, has_handle=handle is not None
        )
        await self._process(connecting)
        await self._gate_lifecycle(connecting, None)
        config = live_config(
            self.settings,
            handle=handle,
            context_window_compression=self._compression,
            headers=self._headers,
            extra=self._extra,
        )
        up = UpstreamConnection(self.client, self.settings.model, config)
        started = self.now()
        try:
            await up.open()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            code, reason = close_info(exc)
            self.stats.connect_failures += 1
            self._failures_in_row += 1
            return code, reason
        self._failures_in_row = 0
        self.stats.connects += 1
        self._up = up
        self._recv_task = asyncio.create_task(self._guarded(self._receive(up)), name="lg-recv")
        connected = ev.UpstreamConnected(
            t=self.now(),
            attempt=attempt,
            purpose=purpose,
            resumed=handle is not None,
            setup_ms=round((self.now() - started) * 1000, 1),
        )
        await self._process(connected)
        # the caller is still speaking: the activity that died with the old connection reopens
        await self._gate_lifecycle(connected, up)
        return None

    async def _close_upstream(self, reason: str) -> None:
        """Close the current upstream from our side (first, before any resume)."""
        up, task = self._up, self._recv_task
        self._up, self._recv_task = None, None
        if up is None:
            return
        if self.client_vad:  # never leave an activity open: close it on this connection first
            ends = self.activity.closing(self.now())
            try:
                kinds = await self._send_signals(up, ends)
            except Exception as exc:  # the socket is already gone: the activity died with it
                log.debug("activityEnd before close failed: %s", exc)
                kinds = []
            for kind in kinds:
                await self._process(ev.ActivitySignal(t=self.now(), kind=kind))
        await up.close()
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        closed = ev.UpstreamClosed(t=self.now(), code=1000, reason=reason, side="client")
        await self._process(closed)
        await self._gate_lifecycle(closed, None)

    async def _receive(self, up: UpstreamConnection) -> None:
        try:
            async for msg in up.messages():
                received_at = time.perf_counter()
                t = self.now()
                tr = self.translator.translate(msg, t)
                audio = {id(a.event): a for a in tr.audio}
                for event in tr.events:
                    item: Any = None
                    if isinstance(event, ev.ModelAudio):
                        part = audio[id(event)]
                        item = AudioOut(part.pcm, part.rate, event, received_at=received_at)
                    elif isinstance(event, ev.ToolCall):
                        item = ToolCallOut(tuple(tr.function_calls), event)
                    elif isinstance(event, ev.ResumptionUpdate):
                        self.handles.append(event)
                    await self._process(event, item=item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if up.closed_by_us or self._closing:
                return
            code, reason = close_info(exc)
            await self._upstream_lost(up, code, reason)

    async def _upstream_lost(self, up: UpstreamConnection, code: int, reason: str) -> None:
        """The server closed (or the network dropped) the current upstream: the guard decides."""
        if up is not self._up:
            return
        self._ready.clear()
        self._up, self._recv_task = None, None
        await up.close()
        await self._server_closed(code, reason)

    async def _server_closed(self, code: int, reason: str) -> None:
        """Report a server-side close (or refused connect) and let the guard pick what follows."""
        closed = ev.UpstreamClosed(t=self.now(), code=code, reason=reason, side="server")
        await self._emit(closed)
        await self._gate_lifecycle(closed, None)
        results = self._feed_guard(closed)
        await self._apply(results)
        self._wake.set()
        if not any(isinstance(r, Reconnect | FailSession) for r in results):
            # the guard is off or has no rung for this close: the session cannot continue
            with contextlib.suppress(asyncio.QueueFull):
                self._control.put_nowait(
                    FailSession(reason=f"upstream closed {code} {reason}".strip())
                )

    # ================================================================== control

    async def _control_loop(self) -> None:
        while True:
            action = await self._control.get()
            if isinstance(action, FailSession):
                await self._fail(action.reason)
                return
            if isinstance(action, Reconnect):
                await self._reconnect(action)

    async def _reconnect(self, action: Reconnect) -> None:
        """Close the old socket first, connect, re-seed (fresh), replay, then let the sender go."""
        if self._failures_in_row >= self._max_connect_failures:
            await self._fail(f"upstream unreachable after {self._failures_in_row} attempts")
            return
        if self._failures_in_row:
            await asyncio.sleep(min(0.25 * 2 ** (self._failures_in_row - 1), 2.0))
        self._ready.clear()
        async with self._send_lock:  # no write is in flight on the old socket
            await self._close_upstream(f"reconnect: {action.purpose}")
            replay: list[Chunk] | None = None
            if action.replay_from_t is not None:
                replay = self.ring.since(action.replay_from_t)
            failure = await self._connect(action.purpose, action.handle)
            if failure is not None:
                await self._server_closed(*failure)  # the guard chooses what comes next
                return
            up = self._up
            assert up is not None
            try:
                if action.purpose == "fresh" and action.seed_turns:
                    await up.send_seed(action.seed_turns)
                if replay:
                    await self._replay(up, replay)
                elif action.replay_text:
                    await up.send_text(action.replay_text)
                    self.stats.texts_sent += 1
            except Exception as exc:  # the new socket died already; its receiver reports it
                log.debug("replay failed: %s", exc)
                return
        self._ready.set()

    async def _replay(self, up: UpstreamConnection, chunks: list[Chunk]) -> None:
        """Re-send buffered caller audio faster than real time (`replay_speed`).

        In client-VAD mode the replay needs an activity of its own, unless the gate already
        reopened one for a caller who is still speaking (then the replay goes into that one).
        """
        bracket = self.client_vad and not self.activity.is_open
        if bracket:
            await up.send_activity("start")
            self.stats.activity_signals += 1
            await self._process(ev.ActivitySignal(t=self.now(), kind="start"))
        for chunk in chunks:
            await up.send_audio(chunk.pcm, self.ring.rate)
            self.stats.replay_frames += 1
            await asyncio.sleep(len(chunk.pcm) / 2 / self.ring.rate / self._replay_speed)
        if bracket:
            await up.send_activity("end")
            self.stats.activity_signals += 1
            await self._process(ev.ActivitySignal(t=self.now(), kind="end"))

    async def _fail(self, reason: str) -> None:
        self.failure = self.failure or SessionFailed(reason)
        await self._finish(reason)

    # ================================================================== guard plumbing

    async def _ticker(self) -> None:
        while True:
            self._wake.clear()
            deadline = self.guard.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            if deadline is not None and self.now() >= deadline:
                await self._apply(self.guard.tick(self.now()))

    def _feed_guard(self, event: ev.Event) -> list:
        try:
            return list(self.guard.feed(event))
        except Exception:  # a guard bug must not take the call down
            log.exception("guard failed on %s", event.name)
            return []

    async def _process(self, event: ev.Event, *, item: Any = None, feed_guard: bool = True) -> None:
        """One event: sinks, the item stream, the guard; then what the guard returned."""
        await self._emit(event, item)
        if feed_guard:
            await self._apply(self._feed_guard(event))
        self._wake.set()

    async def _emit(self, event: ev.Event, item: Any = None) -> None:
        if isinstance(event, ev.HealthChanged):
            self.health = event.state
        for sink in self.on_event:
            try:
                sink(event)
            except Exception:
                log.exception("event sink failed on %s", event.name)
        await self._put(item if item is not None else event)

    async def _apply(self, results: Iterable[Any]) -> None:
        for r in results:
            if isinstance(r, ev.Event):
                await self._emit(r)
            elif isinstance(r, SendText):
                await self._enqueue(("text", r.text))
            elif isinstance(r, Reconnect | FailSession):
                try:
                    self._control.put_nowait(r)
                except asyncio.QueueFull:
                    log.error("control queue full; dropping %r", r)
            elif isinstance(r, FlushPlayback):
                await self._put(r)
            elif isinstance(r, PlayFiller):
                await self._put(r)
                await self._play_file(self.settings.filler_audio, "filler")
            elif isinstance(r, PlayFallback):
                await self._put(r)
                await self._play_file(self.settings.fallback_audio, "fallback")

    async def _put(self, item: Any) -> None:
        if self._done.is_set():
            return
        deliver = self.deliver_now
        if deliver is not None and self._items.empty():
            try:
                if deliver(item):
                    return
            except Exception:  # the sink's bug: its items take the iterator from now on
                log.exception("deliver_now failed on %s; using the item stream", type(item))
                self.deliver_now = None
        if self._finishing:  # never block the end on an application that stopped reading
            with contextlib.suppress(asyncio.QueueFull):
                self._items.put_nowait(item)
            return
        await self._items.put(item)

    async def _play_file(self, path: Path | None, source: str) -> None:
        """Configured filler / fallback WAV as AudioOut items (the transport plays them)."""
        if path is None:
            return
        try:
            audio = read_wav(path)
        except (OSError, WavFormatError) as exc:
            log.error("cannot play %s audio %s: %s", source, path.name, exc)
            return
        pcm, rate = audio.pcm, audio.sample_rate
        step = rate * 2 // 10  # 100 ms pieces
        for i in range(0, len(pcm), step):
            await self._put(AudioOut(pcm[i : i + step], rate, None, source))

    # ================================================================== ending

    async def _guarded(self, coro: Any) -> None:
        """Run a background task; an unexpected error ends the session with a reason."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("guarded session task failed")
            await self._fail(f"internal error: {type(exc).__name__}: {exc}")

    async def _finish(self, reason: str) -> None:
        """Idempotent end: stop tasks, close upstream, SessionEnded, end the item stream."""
        if self._done.is_set() or self._finishing:
            return
        self._finishing = True
        self._closing = True
        self._ready.clear()
        if self._detector is not None and self._loop is not None:
            VadBatcher.for_loop(self._loop).discard(self._detector)
        me = asyncio.current_task()
        for task in self._tasks:
            if task is not me:
                task.cancel()
        for task in self._tasks:
            if task is not me:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._up is not None:
            await self._close_upstream(reason)
        ended = ev.SessionEnded(
            t=self.now(),
            reason=reason,
            input_tokens=self.translator.input_tokens,
            output_tokens=self.translator.output_tokens,
            gemini_audio_chunks=self.translator.gemini_audio_chunks,
        )
        await self._emit(ended)
        await self._gate_lifecycle(ended, None)  # closed above; the gate opens nothing more
        self._done.set()
        with contextlib.suppress(asyncio.QueueFull):
            self._items.put_nowait(_END)
