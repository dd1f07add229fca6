"""The session's tool shell: runs the model's calls (settings.tools or the application's handler)
and keeps the `ToolLedger` fed, so results reach the right upstream session.

Why here and not in the application's item loop: the session sees the calls before the
application does, keeps running them while the application is slow, and knows which connection
is open when a result is ready (session/toolstate.py decides where it goes).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from google.genai import types

from liveguard import events as ev
from liveguard.config.models import facts as model_facts
from liveguard.config.settings import Settings
from liveguard.guard.machine import Guard
from liveguard.guard.tools import ToolGuard, ToolRule
from liveguard.session.items import ToolCallOut
from liveguard.session.toolstate import ToolLedger
from liveguard.tools.dispatch import ToolDispatcher
from liveguard.tools.runner import ToolHandler, ToolRunner


class SessionTools:
    """The ledger of one session, and its dispatcher when the session runs the calls itself."""

    def __init__(
        self,
        runner: ToolRunner | None,
        send: Callable[[list[types.FunctionResponse]], Awaitable[None]],
        guard: ToolGuard | None = None,
    ) -> None:
        self.ledger = ToolLedger()
        self.guard = guard  # the guard's tool rules (guard/tools.py); None: guard disabled
        self.dispatcher = ToolDispatcher(runner, send) if runner is not None else None
        self.changed = asyncio.Event()  # the ledger moved (a rotation may be waiting on it)

    @property
    def runs_calls(self) -> bool:
        return self.dispatcher is not None

    def on_event(self, event: ev.Event, item: Any) -> Any:
        """Feed the ledger; start the calls (the item then says `handled`). Returns the item."""
        calls = item.calls if isinstance(item, ToolCallOut) else ()
        self.ledger.feed(event, calls)
        if self.dispatcher is not None:
            if isinstance(item, ToolCallOut):
                item = dataclasses.replace(item, handled=True)
            self.dispatcher.on_item(item if item is not None else event)
        self.changed.set()
        return item

    def feed_guard(self, event: ev.Event) -> list[Any]:
        return self.guard.feed(event) if self.guard is not None else []

    def next_deadline(self) -> float | None:
        return self.guard.next_deadline() if self.guard is not None else None

    def tick(self, now: float) -> list[Any]:
        return self.guard.tick(now) if self.guard is not None else []

    async def wait_settled(self, until: float | None, now: Callable[[], float]) -> bool:
        """Wait until the ledger is settled or `until` (session time) passes; settled?"""
        while not self.ledger.settled():
            left = None if until is None else until - now()
            if left is not None and left <= 0:
                return False
            self.changed.clear()
            try:
                async with asyncio.timeout(left):
                    await self.changed.wait()
            except TimeoutError:
                return self.ledger.settled()
        return True

    async def aclose(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.aclose()


def build_session_tools(
    settings: Settings,
    guard: Guard,
    *,
    send: Callable[[list[types.FunctionResponse]], Awaitable[None]],
    emit: Callable[[ev.Event], None],
    clock: Callable[[], float],
    handler: ToolHandler | None,
    run: bool,
) -> SessionTools:
    """A session's tool shell: a runner when tools are configured or a handler is given (and
    `run`), the guard's tool rules for the declared tools and the model's default behaviour."""
    runner = None
    if run and (settings.tools or handler is not None):
        runner = ToolRunner.from_entries(
            settings.tools,
            limits=settings.tool_limits,
            redact=settings.redact_transcripts,
            emit=emit,
            clock=clock,
            handler=handler,
        )
    return SessionTools(runner, send, tool_guard(settings, guard, runner))


def tool_guard(settings: Settings, guard: Guard, runner: ToolRunner | None) -> ToolGuard | None:
    """`ToolGuard` for these settings; None when the guard is disabled."""
    if not settings.guard.enabled:
        return None
    model = model_facts(settings.model)
    rules = {}
    if runner is not None:
        rules = {n: ToolRule(t.behavior, t.scheduling) for n, t in runner.tools.items()}
    turns = guard.turns

    def turn_waiting() -> bool:  # the main guard's own answer deadline runs
        utt = turns.awaiting
        return utt is not None and not utt.judged

    return ToolGuard(
        rules,
        default_behavior=model.default_behavior if model else "BLOCKING",
        answer_deadline_s=settings.guard.answer_deadline_s,
        filler_after_s=settings.tool_limits.filler_after_s if settings.filler_audio else None,
        turn_waiting=turn_waiting,
        escalate=guard.recover_tool_silence,
    )
