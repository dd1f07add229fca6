"""Glue between a session's item stream and the runner: each call runs as its own task, each
response is sent as soon as it is ready, a `toolCallCancellation` stops the calls it names.

Why a separate object: the session (or an application looping over `GuardedSession` items today)
must not wait for a slow tool before reading the next message — the cancellation that stops the
tool arrives on the same stream. Sending per response (not per `toolCall` message) lets a fast
result reach the model while a slow one still runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from google.genai import types

from liveguard import events as ev
from liveguard.tools.runner import ToolRunner

log = logging.getLogger("liveguard.tools")

Send = Callable[[list[types.FunctionResponse]], Awaitable[None]]


class ToolDispatcher:
    """Feed it every session item (`on_item`); it runs calls and sends their responses."""

    def __init__(self, runner: ToolRunner, send: Send) -> None:
        self.runner = runner
        self._send = send
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.send_failures = 0

    def on_item(self, item: Any) -> None:
        """A `ToolCallOut` starts its calls; a `ToolCallCancelled` event cancels; else nothing."""
        calls = getattr(item, "calls", None)
        if calls is not None and isinstance(getattr(item, "event", None), ev.ToolCall):
            for call in calls:
                task = asyncio.create_task(self._answer(call))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif isinstance(item, ev.ToolCallCancelled):
            self.runner.cancel(item.ids)

    async def _answer(self, call: types.FunctionCall) -> None:
        response = await self.runner.run(call)
        if response is None:  # cancelled by the server: its result must never be sent
            return
        try:
            await self._send([response])
            self.sent += 1
        except Exception as exc:  # the session ended meanwhile: nothing left to answer
            self.send_failures += 1
            log.info("tool response for %s not sent: %s", call.name, type(exc).__name__)

    async def aclose(self) -> None:
        """Stop every call, started or not (nothing more is sent), and close the runner."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.runner.aclose()
