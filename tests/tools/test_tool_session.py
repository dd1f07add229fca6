"""Tool round trips with the real SDK against the emulator over TLS: the settings declare the tool,
the emulated model calls it, the session runs it and answers (or, on a barge-in, the server
cancels it and nothing is sent); an application's `tool_handler` instead of settings; and an
application that runs the calls itself (`run_tools=False`, `ToolDispatcher` in its item loop).
"""

from __future__ import annotations

import asyncio

import tool_fixtures
from google.genai import types
from tool_harness import asking_for_an_order

from liveguard import events as ev
from liveguard.audio.clips import clip_text
from liveguard.config.settings import Settings
from liveguard.emulator.server import Emulator
from liveguard.session import GuardedSession, ToolCallOut, make_client
from liveguard.tools import ToolRunner
from liveguard.tools.dispatch import ToolDispatcher
from liveguard.tools.examples import DEMO_TOOLS

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"


def of(log: list[ev.Event], cls: type) -> list:
    return [e for e in log if isinstance(e, cls)]


def assert_one_lookup_answered(log: list[ev.Event]) -> None:
    """One lookup_order call for order 456 ran, ok, and was answered, on the session's clock."""
    finished = of(log, ev.ToolCallFinished)
    assert [(e.tool, e.outcome) for e in finished] == [("lookup_order", "ok")]
    calls, answers = of(log, ev.ToolCall), of(log, ev.ToolResponse)
    assert calls[0].ids == answers[0].ids == (finished[0].call_id,)
    assert of(log, ev.ToolCallStarted)[0].args == {"order_number": "456"}
    assert calls[0].t <= finished[0].t <= answers[0].t  # one clock: the session's


async def test_the_session_runs_the_declared_tool_and_answers() -> None:
    settings = Settings(model=MODEL, tools=DEMO_TOOLS, greeting=None)
    log: list[ev.Event] = []
    shown: list[ToolCallOut] = []
    async with Emulator(scenario="tool-call") as emu:
        async with asking_for_an_order(emu, settings, log) as session:
            spoken = ""
            async with asyncio.timeout(20):
                async for item in session:
                    if isinstance(item, ToolCallOut):
                        shown.append(item)
                    if isinstance(item, ev.OutputTranscript):
                        spoken += item.text
                        if spoken.strip() == clip_text("order_shipped"):
                            break
        model_stats = emu.sessions[-1].model_stats
    assert_one_lookup_answered(log)
    assert [(i.handled, i.calls[0].name) for i in shown] == [(True, "lookup_order")]
    assert spoken.strip() == clip_text("order_shipped")
    assert (model_stats.tool_calls_sent, model_stats.tool_responses) == (1, 1)


async def test_an_application_handler_runs_the_calls() -> None:
    seen: list[types.FunctionCall] = []

    async def handler(call: types.FunctionCall) -> dict[str, str]:
        seen.append(call)
        return {"status": "shipped", "eta": "tomorrow"}

    declared = [
        types.Tool(
            function_declarations=[
                types.FunctionDeclaration(
                    name="lookup_order",
                    description="Look up an order.",
                    parameters_json_schema={
                        "type": "object",
                        "properties": {"order_number": {"type": "string"}},
                    },
                )
            ]
        )
    ]
    settings = Settings(model=MODEL, greeting=None)
    log: list[ev.Event] = []
    async with Emulator(scenario="tool-call") as emu:
        client = make_client(
            settings, api_key=emu.api_key, base_url=emu.base_url, ssl_context=emu.ssl_context()
        )
        async with GuardedSession(
            settings,
            client=client,
            greeting=False,
            tool_handler=handler,
            extra_config={"tools": declared},
        ) as session:
            session.add_event_sink(log.append)
            await session.send_text(clip_text("order_number"))
            spoken = ""
            async with asyncio.timeout(20):
                async for item in session:
                    if isinstance(item, ev.OutputTranscript):
                        spoken += item.text
                        if spoken.strip() == clip_text("order_shipped"):
                            break
        model_stats = emu.sessions[-1].model_stats
    assert [c.args for c in seen] == [{"order_number": "456"}]
    finished = of(log, ev.ToolCallFinished)
    assert [(e.tool, e.outcome) for e in finished] == [("lookup_order", "ok")]
    assert (model_stats.tool_calls_sent, model_stats.tool_responses) == (1, 1)


async def test_with_run_tools_off_the_application_runs_the_calls() -> None:
    settings = Settings(model=MODEL, tools=DEMO_TOOLS, greeting=None)
    log: list[ev.Event] = []
    async with Emulator(scenario="tool-call") as emu:
        client = make_client(
            settings, api_key=emu.api_key, base_url=emu.base_url, ssl_context=emu.ssl_context()
        )
        async with GuardedSession(
            settings, client=client, greeting=False, run_tools=False
        ) as session:
            session.add_event_sink(log.append)
            runner = ToolRunner.from_entries(settings.tools, emit=log.append, clock=session.now)
            tools = ToolDispatcher(runner, session.send_tool_response)
            await session.send_text(clip_text("order_number"))
            spoken = ""
            async with asyncio.timeout(20):
                async for item in session:
                    tools.on_item(item)
                    if isinstance(item, ev.OutputTranscript):
                        spoken += item.text
                        if spoken.strip() == clip_text("order_shipped"):
                            break
            await tools.aclose()
        model_stats = emu.sessions[-1].model_stats
    assert_one_lookup_answered(log)
    assert spoken.strip() == clip_text("order_shipped")
    assert (model_stats.tool_calls_sent, model_stats.tool_responses) == (1, 1)
    assert tools.sent == 1


async def test_barge_in_cancels_the_running_tool_and_nothing_is_sent() -> None:
    tool_fixtures.state.update(cancelled=0, active=0)
    slow = [{"function": "tool_fixtures:slow_lookup", "name": "lookup_order"}]
    settings = Settings(model=MODEL, tools=slow, greeting=None)
    log: list[ev.Event] = []
    async with Emulator(scenario="tool-call") as emu:
        async with asking_for_an_order(emu, settings, log) as session:
            async with asyncio.timeout(20):
                async for item in session:
                    if isinstance(item, ToolCallOut):
                        await asyncio.sleep(0.3)  # the tool is running; the caller speaks again
                        await session.send_text(clip_text("still_there"))
                    if isinstance(item, ev.ToolCallCancelled):
                        break
            await asyncio.sleep(0.3)  # a response, if one were sent, would reach the emulator
        model_stats = emu.sessions[-1].model_stats
    cancelled = of(log, ev.ToolCallCancelled)
    finished = of(log, ev.ToolCallFinished)
    assert len(cancelled) == 1 and cancelled[0].ids == (finished[0].call_id,)
    assert [e.outcome for e in finished] == ["cancelled"]
    assert tool_fixtures.state["cancelled"] == 1  # the tool itself was stopped
    assert of(log, ev.ToolResponse) == []
    assert (model_stats.tool_call_cancellations, model_stats.tool_responses) == (1, 0)
