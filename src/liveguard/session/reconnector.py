"""The reconnector: connect, receive, close, and execute the guard's `Reconnect` / `FailSession`.

It owns the upstream lifecycle of one guarded session: the connect attempts (through the
injectable `UpstreamFactory`), the receiver task of the current connection (server messages ->
events, `MessageTranslator`), and the control task that executes one guard action at a time. What
to do is the guard's to decide (which rung, which handle, what to replay, the backoff after
refused connects and when to give up); this module carries it out, in the order docs/session.md
("Reconnect semantics") gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from google.genai import types

from liveguard import events as ev
from liveguard.guard.actions import Action, FailSession, Reconnect
from liveguard.guard.policy import replay_bracket
from liveguard.session.bounds import SessionCounters
from liveguard.session.items import AudioOut, ToolCallOut
from liveguard.session.pipe import EventPipe
from liveguard.session.ringbuffer import Chunk
from liveguard.session.sender import Sender
from liveguard.session.translate import MessageTranslator
from liveguard.session.upstream import close_info
from liveguard.session.upstream_api import UpstreamFactory, UpstreamLink

log = logging.getLogger(__name__)

CONTROL_QUEUE = 32


class Reconnector:
    """Connects, reconnects and closes the upstream of one session."""

    def __init__(
        self,
        pipe: EventPipe,
        sender: Sender,
        translator: MessageTranslator,
        stats: SessionCounters,
        *,
        factory: UpstreamFactory,
        config: Callable[[str | None], types.LiveConnectConfig],
        replay_speed: float,
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task],
        fail: Callable[[str], Awaitable[None]],
        closing: Callable[[], bool],
    ) -> None:
        self.pipe = pipe
        self.sender = sender
        self.translator = translator
        self.stats = stats
        self._factory = factory
        self._config = config  # the LiveConnectConfig for a resumption handle (or None)
        self._replay_speed = replay_speed
        self._spawn = spawn  # starts a task that fails the session on an unexpected error
        self._fail = fail
        self._closing = closing
        self._control: asyncio.Queue[Action] = asyncio.Queue(maxsize=CONTROL_QUEUE)
        self._recv_task: asyncio.Task | None = None
        self._attempt = 0

    def request(self, action: Action) -> None:
        """Queue a guard `Reconnect` / `FailSession` for the control task."""
        try:
            self._control.put_nowait(action)
        except asyncio.QueueFull:
            log.error("control queue full; dropping %r", action)

    async def run(self) -> None:
        """The control task: one action at a time, until one fails the session."""
        while True:
            action = await self._control.get()
            if isinstance(action, FailSession):
                await self._fail(action.reason)
                return
            if isinstance(action, Reconnect):
                await self.reconnect(action)

    # ------------------------------------------------------------------ connect / close

    async def connect(self, purpose: str, handle: str | None) -> tuple[int, str] | None:
        """Open a new upstream and start its receiver; returns (code, reason) if it was refused."""
        self._attempt += 1
        attempt = self._attempt
        now = self.pipe.now
        connecting = ev.UpstreamConnecting(
            t=now(), attempt=attempt, purpose=purpose, has_handle=handle is not None
        )
        if self.sender.tools is not None:
            self.sender.tools.ledger.connecting(handle)
        await self.pipe.process(connecting)
        await self.sender.gate_lifecycle(connecting, None)
        up = self._factory(self._config(handle))
        started = now()
        try:
            await up.open()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats.connect_failures += 1
            return close_info(exc)
        self.stats.connects += 1
        self.sender.up = up
        self._recv_task = self._spawn(self._receive(up), "lg-recv")
        connected = ev.UpstreamConnected(
            t=now(),
            attempt=attempt,
            purpose=purpose,
            resumed=handle is not None,
            setup_ms=round((now() - started) * 1000, 1),
        )
        await self.pipe.process(connected)
        # the caller is still speaking: the activity that died with the old connection reopens
        await self.sender.gate_lifecycle(connected, up)
        return None

    async def close_upstream(self, reason: str) -> None:
        """Close the current upstream from our side (first, before any resume)."""
        up, task = self.sender.up, self._recv_task
        self.sender.up, self._recv_task = None, None
        if up is None:
            return
        await self.sender.close_activity(up)  # never leave an activity open
        await up.close()
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        closed = ev.UpstreamClosed(t=self.pipe.now(), code=1000, reason=reason, side="client")
        await self.pipe.process(closed)
        await self.sender.gate_lifecycle(closed, None)

    @property
    def open(self) -> bool:
        return self.sender.up is not None

    # ------------------------------------------------------------------ receiving

    async def _receive(self, up: UpstreamLink) -> None:
        try:
            async for msg in up.messages():
                await self._on_message(msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if up.closed_by_us or self._closing():
                return
            await self._upstream_lost(up, *close_info(exc))

    async def _on_message(self, msg: Any) -> None:
        """One server message: its events, model audio and tool calls as the items that carry
        them (`AudioOut`, `ToolCallOut`)."""
        received_at = time.perf_counter()
        tr = self.translator.translate(msg, self.pipe.now())
        audio = {id(a.event): a for a in tr.audio}
        for event in tr.events:
            item: Any = None
            if isinstance(event, ev.ModelAudio):
                part = audio[id(event)]
                item = AudioOut(part.pcm, part.rate, event, received_at=received_at)
            elif isinstance(event, ev.ToolCall):
                item = ToolCallOut(tuple(tr.function_calls), event)
            await self.pipe.process(event, item=item)

    async def _upstream_lost(self, up: UpstreamLink, code: int, reason: str) -> None:
        """The server closed (or the network dropped) the current upstream: the guard decides."""
        if up is not self.sender.up:
            return
        self.sender.ready.clear()
        self.sender.up, self._recv_task = None, None
        await up.close()
        await self.server_closed(code, reason)

    async def server_closed(self, code: int, reason: str) -> None:
        """Report a server-side close (or refused connect) and carry out what the guard picks
        (the next rung, a backoff, or the end of the session: `Guard` always answers one)."""
        closed = ev.UpstreamClosed(t=self.pipe.now(), code=code, reason=reason, side="server")
        await self.pipe.emit(closed)
        await self.sender.gate_lifecycle(closed, None)
        results = self.pipe.feed_guard(closed)
        if results is None:  # the guard raised: nothing can decide what follows
            self.request(FailSession(reason=f"upstream closed {code} {reason}".strip()))
            results = []
        await self.pipe.apply(results)
        self.pipe.wake.set()

    # ------------------------------------------------------------------ reconnecting

    async def reconnect(self, action: Reconnect) -> None:
        """Close the old socket first, connect, re-seed (fresh), replay, then let the sender go."""
        if action.delay_s:  # the guard's backoff after refused connects
            await asyncio.sleep(action.delay_s)
        sender = self.sender
        tools = sender.tools
        if action.purpose == "rotate" and tools is not None:
            # a goAway rotation waits (within the goAway's time) for every tool call to be
            # answered and a handle issued after the answer, then resumes from that handle
            await tools.wait_settled(tools.ledger.goaway_by, self.pipe.now)
            handle = tools.ledger.rotation_handle(action.handle)
            if handle != action.handle:
                action = dataclasses.replace(action, handle=handle)
        seed = action.seed_turns
        if action.purpose == "fresh" and tools is not None:
            seed = seed + tools.ledger.seed_turns()  # the tool history, as text turns
        sender.ready.clear()
        async with sender.lock:  # no write is in flight on the old socket
            await self.close_upstream(f"reconnect: {action.purpose}")
            replay: list[Chunk] | None = None
            if action.replay_from_t is not None:
                replay = sender.ring.since(action.replay_from_t)
            failure = await self.connect(action.purpose, action.handle)
            if failure is not None:
                await self.server_closed(*failure)  # the guard chooses what comes next
                return
            up = sender.up
            assert up is not None
            routed: list[ev.Event] = []
            try:
                if action.purpose == "fresh" and seed:
                    await up.send_seed(seed)
                if tools is not None:  # results this session lacks (delivered on an older one)
                    routed = await sender.write_results(up, tools.ledger.after_connect(), True)
                if replay:
                    await self._replay(up, replay)
                elif action.replay_text:
                    await up.send_text(action.replay_text)
                    self.stats.texts_sent += 1
            except Exception as exc:  # the new socket died already; its receiver reports it
                log.debug("replay failed: %s", exc)
                return
        sender.ready.set()
        for event in routed:
            await self.pipe.process(event)

    async def _replay(self, up: UpstreamLink, chunks: list[Chunk]) -> None:
        """Re-send buffered caller audio faster than real time (`replay_speed`), in an activity of
        its own when `replay_bracket` says so (client VAD)."""
        sender = self.sender
        bracket = replay_bracket(sender.client_vad, sender.activity.is_open)
        if bracket:
            await up.send_activity("start")
            self.stats.activity_signals += 1
            await sender.report(["start"])
        rate = sender.ring.rate
        for chunk in chunks:
            await up.send_audio(chunk.pcm, rate)
            self.stats.replay_frames += 1
            await asyncio.sleep(len(chunk.pcm) / 2 / rate / self._replay_speed)
        if bracket:
            await up.send_activity("end")
            self.stats.activity_signals += 1
            await sender.report(["end"])
