"""`GuardedSession`: one caller session over any number of upstream Gemini Live connections.

The asyncio shell of liveguard: it moves bytes and executes what the guard decides; it decides
nothing itself. It is put together from parts with one job each:

- `EventPipe` (pipe.py): every event goes to the telemetry sinks, the application's item stream
  and the guard, and what the guard returns is carried out; its ticker wakes the guard
- `Sender` (sender.py): the bounded queue of typed outbound items (outbound.py), the write path,
  the ring buffer of sent caller audio, the client-VAD activity signals and pre-roll
- `Reconnector` (reconnector.py): connect / close / reconnect / replay through the injectable
  upstream factory (upstream_api.py), and the receiver of the current connection
- `SpeechFeed` (speech.py): the local VAD on every caller frame, its decisions as events
- `UpstreamRate` (inbound.py): the upstream rate and resampling; filler playback (filler.py)
- `SessionTools` (toolrun.py): runs the model's tool calls, routes their results to the upstream
  session that knows them (`ToolLedger`, toolstate.py) and keeps the guard's tool rules fed

This class keeps the public API (docs/session.md) and the lifecycle. Five tasks run per session:
the receiver of the current connection, the sender, the control task (executes `Reconnect` /
`FailSession` one at a time), the ticker and the speech task. Time is session-relative monotonic
seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any, Unpack

from google import genai
from google.genai import types

from liveguard import events as ev
from liveguard.config.settings import Settings
from liveguard.guard.activity import ActivityGate
from liveguard.guard.handles import HandleHistory
from liveguard.guard.machine import Guard
from liveguard.session.bounds import DEFAULT_RATE, BoundsKwargs, SessionBounds, SessionCounters
from liveguard.session.config import ensure_keepalive, live_config, make_client
from liveguard.session.inbound import UpstreamRate, check_frame
from liveguard.session.items import Item, LiveConfigError, SessionClosed, SessionFailed
from liveguard.session.outbound import AudioFrame, TextOut, ToolResponses
from liveguard.session.pipe import EventPipe, EventSink
from liveguard.session.reconnector import Reconnector
from liveguard.session.ringbuffer import AudioRingBuffer
from liveguard.session.sender import Sender
from liveguard.session.setup_wait import SETUP_TIMEOUT_REASON
from liveguard.session.speech import SpeechFeed
from liveguard.session.toolrun import build_session_tools
from liveguard.session.translate import MessageTranslator
from liveguard.session.upstream_api import UpstreamFactory, sdk_upstream
from liveguard.tools.runner import ToolHandler

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_RATE", "GuardedSession"]


class GuardedSession:
    """An async context manager and async iterator of `Item`s; see docs/session.md.

    ```
    async with GuardedSession(settings, client=client) as session:
        ... await session.send_audio(pcm, 8000) ...
        async for item in session: ...
    ```

    Bounds and tuning (`ring_seconds`, `upstream_rate`, `queue_seconds`, `replay_speed`,
    `preroll_ms`, `max_items`, `max_connect_failures`) are keyword arguments, or one
    `bounds=SessionBounds(...)` (keywords given as well override its fields).
    `upstream_factory` makes each connection (default: the google-genai SDK's, over `client`).

    About 350 lines: the public API, its documented keywords and the start/close lifecycle; the
    work itself is in the parts (pipe, sender, reconnector, speech, inbound, filler, toolrun).

    Tools (docs/tools.md): with `settings.tools`, the session runs the model's calls itself and
    answers each; `tool_handler` (an async callable given each `FunctionCall`) runs every call
    not declared in the settings instead (declare those tools in `extra_config["tools"]`);
    `run_tools=False` leaves the calls to the application (`send_tool_response`). Either way
    results reach the right upstream session across reconnects (session/toolstate.py).
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
        upstream_factory: UpstreamFactory | None = None,
        bounds: SessionBounds | None = None,
        resume_handle: str | None = None,
        tool_handler: ToolHandler | None = None,
        run_tools: bool = True,
        **tuning: Unpack[BoundsKwargs],
    ) -> None:
        self.settings = settings = settings or Settings()
        self.client = client
        if upstream_factory is None:
            if client is None:
                self.client = make_client(settings)
            else:
                ensure_keepalive(client, settings)
            upstream_factory = sdk_upstream(self.client, settings.model)
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.transport = transport
        self._headers = dict(headers or {})
        self._compression = context_window_compression
        self._extra = dict(extra_config or {})
        #: continue an earlier conversation (e.g. a caller who reconnected, on any relay)
        self._resume_handle = resume_handle or None
        self._greeting = settings.greeting if greeting is True else (greeting or None)
        self.bounds = dataclasses.replace(bounds or SessionBounds(), **tuning)
        self.client_vad = settings.vad.mode == "client"
        policy = settings.guard
        if self.bounds.max_connect_failures is not None:
            policy = policy.model_copy(
                update={"max_connect_failures": self.bounds.max_connect_failures}
            )
        self.guard = Guard(policy)
        # the guard's TurnTracker is the one source of the incident's caller-transcript fields
        self.translator = MessageTranslator(caller=self.guard.turns)
        self.stats = SessionCounters()
        self.failure: SessionFailed | None = None
        # client VAD: decides activityStart / activityEnd; fed speech edges by the sender (in
        # order with the audio) and connection events by the reconnector, both under the send
        # lock, so its view of "open on the current connection" is the wire's
        self.activity = ActivityGate(connected=False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0
        self._closing = False
        self._tasks: list[asyncio.Task] = []
        self._assemble(on_event, upstream_factory)
        self._assemble_tools(tool_handler if run_tools else None, run_tools)

    def _assemble_tools(self, handler: ToolHandler | None, run: bool) -> None:
        """The tool shell (session/toolrun.py), shared by the pipe and the sender."""
        self.tools = build_session_tools(
            self.settings,
            self.guard,
            send=self.send_tool_response,
            emit=self._pipe.observe_nowait,
            clock=self.now,
            handler=handler if run else None,
            run=run,
        )
        self._pipe.tools = self._sender.tools = self.tools

    def _assemble(self, on_event: Iterable[EventSink], factory: UpstreamFactory) -> None:
        """The parts, wired to each other (see the module docstring)."""
        b, s = self.bounds, self.settings
        pipe = self._pipe = EventPipe(
            self.guard,
            now=self.now,
            sinks=on_event,
            max_items=b.max_items,
            filler_audio=s.filler_audio,
            fallback_audio=s.fallback_audio,
        )
        sender = self._sender = Sender(
            pipe, self.stats, self.activity, b, client_vad=self.client_vad
        )
        self._rate = UpstreamRate(b.upstream_rate)
        self._speech = SpeechFeed(pipe, sender, s.vad, client_vad=self.client_vad)
        self._link = Reconnector(
            pipe,
            sender,
            self.translator,
            self.stats,
            factory=factory,
            config=self._live_config,
            replay_speed=b.replay_speed,
            spawn=self._spawn,
            fail=self._fail,
            closing=lambda: self._closing,
            model=s.model,
        )
        pipe.send_text = self._queue_text
        pipe.control = self._link.request

    # ================================================================== public API

    def now(self) -> float:
        """Seconds since the session started (monotonic)."""
        return (self._loop.time() - self._t0) if self._loop else 0.0

    @property
    def connected(self) -> bool:
        return self._sender.ready.is_set()

    @property
    def ended(self) -> bool:
        return self._pipe.done.is_set()

    @property
    def health(self) -> str:
        """The last `HealthChanged.state`."""
        return self._pipe.health

    @property
    def handles(self) -> HandleHistory:
        """Every usable resumption handle received, with its time and turn (the guard's)."""
        return self.guard.handles

    @property
    def ring(self) -> AudioRingBuffer:
        """Caller audio as sent upstream, kept `ring_seconds` for replay."""
        return self._sender.ring

    @property
    def upstream_rate(self) -> int | None:
        """The rate caller audio goes upstream at (None until the first frame fixes it)."""
        return self._rate.rate

    @property
    def on_event(self) -> list[EventSink]:
        """The telemetry sinks (called with every event, in order)."""
        return self._pipe.sinks

    @on_event.setter
    def on_event(self, sinks: Iterable[EventSink]) -> None:
        self._pipe.sinks = list(sinks)

    @property
    def deliver_now(self) -> Callable[[Any], bool] | None:
        """The application's synchronous sink, tried before the item stream while that stream
        is empty: `deliver_now(item)` returns True when it handled the item (a relay wrote the
        audio to its caller) from the session's receiving task, saving a hop through the
        iterator (a loop iteration of latency, and a task wake-up per model chunk)."""
        return self._pipe.deliver_now

    @deliver_now.setter
    def deliver_now(self, fn: Callable[[Any], bool] | None) -> None:
        self._pipe.deliver_now = fn

    @property
    def on_forwarded(self) -> Callable[[float, float], None] | None:
        """Called with the seconds from `send_audio(received_at=...)` to the frame being on the
        upstream socket (the relay's forwarding-time metric) and the frame's seconds of audio."""
        return self._sender.on_forwarded

    @on_forwarded.setter
    def on_forwarded(self, fn: Callable[[float, float], None] | None) -> None:
        self._sender.on_forwarded = fn

    async def __aenter__(self) -> GuardedSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect the first upstream; raises `LiveConfigError` / `SessionFailed` if refused."""
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        started = ev.SessionStarted(
            t=0.0,
            session_id=self.session_id,
            transport=self.transport,
            model=self.settings.model,
            vad_mode=self.settings.vad.mode,
            sdk_version=getattr(genai, "__version__", ""),
        )
        await self._pipe.process(started)
        failure = await self._link.connect("initial", self._resume_handle)
        retried = failure is not None and failure[1].startswith(SETUP_TIMEOUT_REASON)
        if retried:
            assert failure is not None
            failure = await self._link.retry_first_connect(failure)  # the guard's ladder retries
        if failure is not None:
            code, reason = failure
            if not retried:  # a refused start is the caller's to handle: logged, not fed
                closed = ev.UpstreamClosed(t=self.now(), code=code, reason=reason, side="server")
                await self._pipe.process(closed, feed_guard=False)
            cls = LiveConfigError if code == 1007 else SessionFailed
            self.failure = cls(f"upstream refused the session: {code} {reason}".strip(), code)
            await self._finish(f"connect failed: {code} {reason}".strip())
            raise self.failure
        self._tasks = [
            self._spawn(self._sender.run(), "lg-sender"),
            self._spawn(self._link.run(), "lg-control"),
            self._spawn(self._pipe.ticker(), "lg-ticker"),
            self._spawn(self._speech.run(), "lg-speech"),
        ]
        self._sender.ready.set()
        if self._greeting:
            await self._queue_text(self._greeting)

    def __aiter__(self) -> AsyncIterator[Item]:
        return self._pipe.items()

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
        check_frame(pcm, rate)
        if not pcm:
            return
        t = self.now()
        fixing = self._rate.rate is None
        up_pcm = self._rate.convert(pcm, rate)
        if fixing:  # the first frame fixed the session's upstream rate
            self._sender.fix_rate(rate)
        self.stats.frames_in += 1
        frame = AudioFrame(t, up_pcm, received_at)
        if not self._sender.write_now(frame):
            await self._sender.enqueue(frame)
        self._speech.feed(pcm, rate, t)

    async def send_text(self, text: str) -> None:
        """Caller text (realtime `text`, which every Live model accepts mid-session)."""
        self._check_open()
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text must be a non-empty string")
        await self._pipe.process(ev.CallerText(t=self.now(), text=text))
        await self._queue_text(text)

    async def send_tool_response(self, responses: list[types.FunctionResponse]) -> None:
        """Answer a `ToolCallOut` the session does not run itself (responses need the call's
        `id`); delivered to whichever upstream session knows the call (session/toolstate.py)."""
        self._check_open()
        responses = list(responses)
        ids = tuple(r.id or "" for r in responses)
        await self._pipe.process(ev.ToolResponse(t=self.now(), ids=ids))
        await self._sender.enqueue(ToolResponses(tuple(responses)))

    def add_event_sink(self, sink: EventSink) -> None:
        self._pipe.sinks.append(sink)

    async def close(self, reason: str = "closed") -> None:
        """End: deliver queued caller audio (briefly), close upstream, end the item stream."""
        if self._pipe.done.is_set():
            return
        self._closing = True
        if self._sender.ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sender.drained(), timeout=2.0)
        await self._finish(reason)

    # ================================================================== internals

    def _check_open(self) -> None:
        if self._pipe.done.is_set() or self._closing:
            raise SessionClosed("the session has ended")
        if self._loop is None:
            raise SessionClosed("the session has not started (use `async with`)")

    async def _queue_text(self, text: str) -> None:
        await self._sender.enqueue(TextOut(text))

    def _live_config(self, handle: str | None) -> types.LiveConnectConfig:
        return live_config(
            self.settings,
            handle=handle,
            context_window_compression=self._compression,
            headers=self._headers,
            extra=self._extra,
        )

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task:
        return asyncio.create_task(self._guarded(coro), name=name)

    async def _guarded(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a background task; an unexpected error ends the session with a reason."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("guarded session task failed")
            await self._fail(f"internal error: {type(exc).__name__}: {exc}")

    async def _fail(self, reason: str) -> None:
        self.failure = self.failure or SessionFailed(reason)
        await self._finish(reason)

    async def _finish(self, reason: str) -> None:
        """Idempotent end: stop tasks, close upstream, SessionEnded, end the item stream."""
        pipe = self._pipe
        if pipe.done.is_set() or pipe.finishing:
            return
        pipe.finishing = True
        self._closing = True
        self._sender.ready.clear()
        self._speech.discard()
        await self.tools.aclose()  # running calls stop; nothing more is sent
        me = asyncio.current_task()
        for task in self._tasks:
            if task is not me:
                task.cancel()
        for task in self._tasks:
            if task is not me:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._link.open:
            await self._link.close_upstream(reason)
        ended = ev.SessionEnded(
            t=self.now(),
            reason=reason,
            input_tokens=self.translator.input_tokens,
            output_tokens=self.translator.output_tokens,
            gemini_audio_chunks=self.translator.gemini_audio_chunks,
        )
        await pipe.emit(ended)
        await self._sender.gate_lifecycle(ended, None)  # closed above; the gate opens nothing more
        pipe.end()
