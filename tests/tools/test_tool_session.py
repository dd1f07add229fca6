"""Tool round trips with the real SDK against the emulator over TLS: the settings declare the tool,
the emulated model calls it, the dispatcher runs it and answers (or, on a barge-in, the server
cancels it and nothing is sent).

The session does not run tools itself yet (that is the session's wiring); here the application
loop does what it will do: every item to `ToolDispatcher.on_item`, responses through
`send_tool_response`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import tool_fixtures

from liveguard import events as ev
from liveguard.audio.clips import clip_text
from liveguard.config.settings import Settings
from liveguard.emulator.server import Emulator
from liveguard.session import GuardedSession, ToolCallOut, make_client
from liveguard.tools import ToolRunner
from liveguard.tools.dispatch import ToolDispatcher
from liveguard.tools.examples import DEMO_TOOLS

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"


@dataclass
class Run:
    """What a tool session leaves for the assertions: its events and the emulator's counts."""

    log: list[ev.Event] = field(default_factory=list)
    model_stats: Any = None


@asynccontextmanager
async def tool_session(tools: list) -> AsyncIterator[tuple[GuardedSession, ToolDispatcher, Run]]:
    """A guarded session with `tools` declared, through the real SDK to the emulator's tool-call
    scenario, and a dispatcher running them; the dispatcher is closed before the session."""
    settings = Settings(model=MODEL, tools=tools, greeting=None)
    run = Run()
    async with Emulator(scenario="tool-call") as emu:
        client = make_client(
            settings, api_key=emu.api_key, base_url=emu.base_url, ssl_context=emu.ssl_context()
        )
        async with GuardedSession(settings, client=client, greeting=False) as session:
            session.add_event_sink(run.log.append)
            runner = ToolRunner.from_entries(settings.tools, emit=run.log.append, clock=session.now)
            dispatcher = ToolDispatcher(runner, session.send_tool_response)
            yield session, dispatcher, run
            await dispatcher.aclose()
        run.model_stats = emu.sessions[-1].model_stats


def of(log: list[ev.Event], cls: type) -> list:
    return [e for e in log if isinstance(e, cls)]


async def test_declared_example_tool_round_trip_through_the_sdk() -> None:
    async with tool_session(DEMO_TOOLS) as (session, tools, run):
        await session.send_text(clip_text("order_number"))
        spoken = ""
        async with asyncio.timeout(20):
            async for item in session:
                tools.on_item(item)
                if isinstance(item, ev.OutputTranscript):
                    spoken += item.text
                    if spoken.strip() == clip_text("order_shipped"):
                        break
    log, model_stats = run.log, run.model_stats
    finished = of(log, ev.ToolCallFinished)
    assert [(e.tool, e.outcome) for e in finished] == [("lookup_order", "ok")]
    calls, answers = of(log, ev.ToolCall), of(log, ev.ToolResponse)
    assert calls[0].ids == answers[0].ids == (finished[0].call_id,)
    assert of(log, ev.ToolCallStarted)[0].args == {"order_number": "456"}
    assert calls[0].t <= finished[0].t <= answers[0].t  # one clock: the session's
    assert spoken.strip() == clip_text("order_shipped")
    assert (model_stats.tool_calls_sent, model_stats.tool_responses) == (1, 1)
    assert tools.sent == 1


async def test_barge_in_cancels_the_running_tool_and_nothing_is_sent() -> None:
    tool_fixtures.state.update(cancelled=0, active=0)
    slow = [{"function": "tool_fixtures:slow_lookup", "name": "lookup_order"}]
    async with tool_session(slow) as (session, tools, run):
        await session.send_text(clip_text("order_number"))
        async with asyncio.timeout(20):
            async for item in session:
                tools.on_item(item)
                if isinstance(item, ToolCallOut):
                    await asyncio.sleep(0.3)  # the tool is running; the caller speaks again
                    await session.send_text(clip_text("still_there"))
                if isinstance(item, ev.ToolCallCancelled):
                    break
        await asyncio.sleep(0.3)  # a response, if one were sent, would reach the emulator
    log, model_stats = run.log, run.model_stats
    cancelled = of(log, ev.ToolCallCancelled)
    finished = of(log, ev.ToolCallFinished)
    assert len(cancelled) == 1 and cancelled[0].ids == (finished[0].call_id,)
    assert [e.outcome for e in finished] == ["cancelled"]
    assert tool_fixtures.state["cancelled"] == 1  # the tool itself was stopped
    assert of(log, ev.ToolResponse) == [] and tools.sent == 0
    assert (model_stats.tool_call_cancellations, model_stats.tool_responses) == (1, 0)
