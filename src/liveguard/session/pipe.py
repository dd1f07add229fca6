"""The one way every event of a guarded session goes: sinks, item stream, guard, its actions.

`EventPipe.process(event)` calls the telemetry sinks, hands the event (or the item that carries it)
to the application, feeds the guard and carries out what the guard returned. Its `ticker` wakes
the guard at `guard.next_deadline()`. Actions that need other parts of the session (write text
upstream, reconnect, fail) go to the callables the session gives it; the pipe decides nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from liveguard import events as ev
from liveguard.guard.actions import (
    Action,
    FailSession,
    FlushPlayback,
    PlayFallback,
    PlayFiller,
    Reconnect,
    SendText,
)
from liveguard.guard.machine import Guard
from liveguard.session.filler import wav_pieces
from liveguard.session.items import Item

log = logging.getLogger(__name__)

EventSink = Callable[[ev.Event], None]
_END = object()


class EventPipe:
    """Sinks, the bounded item stream (`max_items`) and the guard of one session."""

    def __init__(
        self,
        guard: Guard,
        *,
        now: Callable[[], float],
        sinks: Iterable[EventSink],
        max_items: int,
        filler_audio: Path | None,
        fallback_audio: Path | None,
    ) -> None:
        self.guard = guard
        self.now = now
        self.sinks: list[EventSink] = list(sinks)
        self.health = "healthy"
        #: the application's synchronous sink, tried before the item stream while that stream is
        #: empty (docs/session.md, `deliver_now`)
        self.deliver_now: Callable[[Any], bool] | None = None
        #: set by the session: write realtime text upstream; hand a Reconnect / FailSession over
        self.send_text: Callable[[str], Awaitable[None]] | None = None
        self.control: Callable[[Action], None] | None = None
        #: the session's tool shell (session/toolrun.py): sees every event with its item first
        self.tools: Any = None
        self.finishing = False  # the session is ending: never block on a reader that stopped
        self.done = asyncio.Event()
        self.wake = asyncio.Event()  # the guard's next deadline may have moved
        self._items: asyncio.Queue[Any] = asyncio.Queue(maxsize=max_items)
        self._audio = {"filler": filler_audio, "fallback": fallback_audio}
        self._pending_puts: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ events in

    async def process(self, event: ev.Event, *, item: Any = None, feed_guard: bool = True) -> None:
        """One event: the tool shell, sinks, the item stream, the guard; then the guard's output."""
        if self.tools is not None:
            item = self.tools.on_event(event, item)
        await self.emit(event, item)
        if feed_guard:
            await self.apply(self.feed_guard(event) or ())
            if self.tools is not None:  # the guard's tool rules (guard/tools.py)
                await self.apply(self.tools.feed_guard(event))
        self.wake.set()

    async def emit(self, event: ev.Event, item: Any = None) -> None:
        """Sinks and the item stream, without the guard (for the guard's own outputs)."""
        if isinstance(event, ev.HealthChanged):
            self.health = event.state
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:
                log.exception("event sink failed on %s", event.name)
        await self.put(item if item is not None else event)

    def emit_nowait(self, event: ev.Event) -> None:
        """Sinks and the item stream from synchronous code (the tool runner's events): the
        stream gets it at once when it has room, else from a task (never lost, never blocking)."""
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:
                log.exception("event sink failed on %s", event.name)
        if self.done.is_set():
            return
        try:
            if self.deliver_now is None and not self.finishing:
                self._items.put_nowait(event)
                return
        except asyncio.QueueFull:
            pass
        task = asyncio.get_running_loop().create_task(self.put(event))
        self._pending_puts.add(task)
        task.add_done_callback(self._pending_puts.discard)

    def observe_nowait(self, event: ev.Event) -> None:
        """A tool runner event: to the tool rules (they only start timers here), then out."""
        if self.tools is not None:
            self.tools.feed_guard(event)
            self.wake.set()
        self.emit_nowait(event)

    def feed_guard(self, event: ev.Event) -> list[Any] | None:
        """The guard's outputs for `event`; None when the guard raised (a guard bug must not take
        the call down: the bug is logged and the caller decides what a missing answer means)."""
        try:
            return list(self.guard.feed(event))
        except Exception:
            log.exception("guard failed on %s", event.name)
            return None

    async def apply(self, results: Iterable[Any]) -> None:
        """Carry out the guard's outputs, in order."""
        for r in results:
            if isinstance(r, ev.Event):
                await self.emit(r)
            elif isinstance(r, SendText):
                assert self.send_text is not None
                await self.send_text(r.text)
            elif isinstance(r, Reconnect | FailSession):
                assert self.control is not None
                self.control(r)
            elif isinstance(r, FlushPlayback):
                await self.put(r)
            elif isinstance(r, PlayFiller | PlayFallback):
                await self.put(r)
                source = "filler" if isinstance(r, PlayFiller) else "fallback"
                for piece in wav_pieces(self._audio[source], source):
                    await self.put(piece)

    async def ticker(self) -> None:
        """Sleep until the guard's next deadline (or a new event), then `guard.tick(now)`.

        `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` swallows a cancellation
        that comes as the wake-up does, and the session's end then waits for this task forever.
        """
        while True:
            self.wake.clear()
            deadline = self.guard.next_deadline()
            tools = self.tools.next_deadline() if self.tools is not None else None
            due = min((d for d in (deadline, tools) if d is not None), default=None)
            timeout = None if due is None else max(0.0, due - self.now())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.wake.wait()
            if deadline is not None and self.now() >= deadline:
                await self.apply(self.guard.tick(self.now()))
            if tools is not None and self.now() >= tools:
                await self.apply(self.tools.tick(self.now()))

    # ------------------------------------------------------------------ items out

    async def put(self, item: Any) -> None:
        """One item for the application: `deliver_now` first while the stream is empty."""
        if self.done.is_set():
            return
        deliver = self.deliver_now
        if deliver is not None and self._items.empty():
            try:
                if deliver(item):
                    return
            except Exception:  # the sink's bug: its items take the iterator from now on
                log.exception("deliver_now failed on %s; using the item stream", type(item))
                self.deliver_now = None
        if self.finishing:  # never block the end on an application that stopped reading
            with contextlib.suppress(asyncio.QueueFull):
                self._items.put_nowait(item)
            return
        await self._items.put(item)

    def end(self) -> None:
        """The stream ends after the items already in it."""
        self.done.set()
        with contextlib.suppress(asyncio.QueueFull):
            self._items.put_nowait(_END)

    async def items(self) -> AsyncIterator[Item]:
        while True:
            try:
                item = self._items.get_nowait()
            except asyncio.QueueEmpty:
                if self.done.is_set():
                    return
                item = await self._items.get()
            if item is _END:
                return
            yield item
