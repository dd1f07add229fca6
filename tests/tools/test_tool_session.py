"""A full tool round trip with the real SDK against the emulator over TLS: the settings declare the
example tool, the emulated model calls it, the runner answers, the model speaks about the result.

The session does not run tools itself yet (that is the session's wiring); here the application
loop does what it will do: `ToolCallOut` -> `runner.run` -> `send_tool_response`.
"""

from __future__ import annotations

import asyncio

from liveguard import events as ev
from liveguard.audio.clips import clip_text
from liveguard.config.settings import Settings
from liveguard.emulator.server import Emulator
from liveguard.session import GuardedSession, ToolCallOut, make_client
from liveguard.tools import ToolRunner
from liveguard.tools.examples import DEMO_TOOLS

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"


async def test_declared_example_tool_round_trip_through_the_sdk() -> None:
    settings = Settings(model=MODEL, tools=DEMO_TOOLS, greeting=None)
    log: list[ev.Event] = []
    async with Emulator(scenario="tool-call") as emu:
        client = make_client(
            settings, api_key=emu.api_key, base_url=emu.base_url, ssl_context=emu.ssl_context()
        )
        runner = ToolRunner.from_entries(settings.tools, emit=log.append)
        async with GuardedSession(settings, client=client, greeting=False) as session:
            session.add_event_sink(log.append)
            await session.send_text(clip_text("order_number"))
            spoken = ""
            async with asyncio.timeout(20):
                async for item in session:
                    if isinstance(item, ToolCallOut):
                        responses = [await runner.run(call) for call in item.calls]
                        await session.send_tool_response([r for r in responses if r])
                    elif isinstance(item, ev.OutputTranscript):
                        spoken += item.text
                        if spoken.strip() == clip_text("order_shipped"):
                            break
        await runner.aclose()
        model_stats = emu.sessions[-1].model_stats
    finished = [e for e in log if isinstance(e, ev.ToolCallFinished)]
    assert [(e.tool, e.outcome) for e in finished] == [("lookup_order", "ok")]
    calls = [e for e in log if isinstance(e, ev.ToolCall)]
    answers = [e for e in log if isinstance(e, ev.ToolResponse)]
    assert calls[0].ids == answers[0].ids == (finished[0].call_id,)
    started = next(e for e in log if isinstance(e, ev.ToolCallStarted))
    assert started.args == {"order_number": "456"}
    assert spoken.strip() == clip_text("order_shipped")
    assert (model_stats.tool_calls_sent, model_stats.tool_responses) == (1, 1)
