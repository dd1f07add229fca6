"""The guarded session's tool calls across reconnects, against a scripted upstream in fast time.

A drop during a call, a goAway during a call and a fresh session after one: the application's
tool handler (gated by the test) runs the call; what each connection was sent is asserted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from google.genai import types
from scripted_upstream import ScriptedLine, model_audio
from test_session_scripted import FAST, MODEL, Recorder

from liveguard import events as ev
from liveguard.config.settings import Settings
from liveguard.guard import GuardPolicy
from liveguard.session import GuardedSession


class GatedTool:
    """A tool handler that answers when the test opens the gate."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls: list[types.FunctionCall] = []

    async def __call__(self, call: types.FunctionCall) -> dict[str, str]:
        self.calls.append(call)
        await self.gate.wait()
        return {"status": "shipped"}


def session_with(line: ScriptedLine, rec: Recorder, tool: GatedTool) -> GuardedSession:
    return GuardedSession(
        Settings(model=MODEL, guard=GuardPolicy(**FAST)),
        upstream_factory=line.factory,
        on_event=[rec],
        greeting=False,
        replay_speed=1000.0,
        tool_handler=tool,
    )


def session_with_tools(line: ScriptedLine, rec: Recorder, tools: list[dict]) -> GuardedSession:
    """A session that runs the declared `tools` itself (no application handler)."""
    settings = Settings(model=MODEL, guard=GuardPolicy(**FAST), tools=tools)
    return GuardedSession(settings, upstream_factory=line.factory, on_event=[rec], greeting=False)


def tool_call(up: Any, cid: str = "c1") -> None:
    fc = {"id": cid, "name": "lookup_order", "args": {"order_number": "456"}}
    up.push(tool_call={"function_calls": [fc]})


def handle(up: Any, h: str) -> None:
    up.push(session_resumption_update={"new_handle": h, "resumable": True})


def tool_ids(up: Any) -> list[str]:
    return [r.id for batch in up.of("tool") for r in batch]


async def drain(session: GuardedSession) -> asyncio.Task:
    async def run() -> None:
        async for _ in session:
            pass

    return asyncio.create_task(run())


@asynccontextmanager
async def a_call(line: ScriptedLine, session: GuardedSession) -> AsyncIterator[Any]:
    """`session` on `line`, read in the background; yields its first connection."""
    async with session:
        reader = await drain(session)
        try:
            yield line.current
        finally:
            reader.cancel()


async def dropped_and_resumed(line: ScriptedLine, rec: Recorder) -> Any:
    """Drop the current connection with 1011; the connection the session resumes on."""
    line.current.drop(1011, "internal error")
    await rec.wait(ev.UpstreamConnected, resumed=True)
    return line.current


async def test_a_drop_during_a_call_resumed_before_the_call_gets_the_result_as_context() -> None:
    line, rec, tool = ScriptedLine(), Recorder(), GatedTool()
    async with a_call(line, session_with(line, rec, tool)) as first:
        handle(first, "h-before")
        tool_call(first)
        await rec.wait(ev.ToolCallStarted)
        second = await dropped_and_resumed(line, rec)
        assert second.handle == "h-before"
        tool.gate.set()
        await second.written(lambda: bool(second.of("seed")))
        await rec.wait(ev.ToolResultRouted, route="context")
    assert tool_ids(first) == [] and tool_ids(second) == []  # no id the session never saw
    (turns,) = second.of("seed")
    assert "lookup_order" in turns[0][1] and "shipped" in turns[0][1]
    assert any("lookup_order" in text for text in second.of("text"))  # asked to speak about it


async def test_a_drop_during_a_call_resumed_after_the_call_gets_the_tool_response() -> None:
    line, rec, tool = ScriptedLine(), Recorder(), GatedTool()
    async with a_call(line, session_with(line, rec, tool)) as first:
        tool_call(first)
        handle(first, "h-after-call")
        await rec.wait(ev.ToolCallStarted)
        await rec.wait(ev.ResumptionUpdate)
        second = await dropped_and_resumed(line, rec)
        assert second.handle == "h-after-call"
        tool.gate.set()
        await second.written(lambda: bool(second.of("tool")))
    assert tool_ids(first) == [] and tool_ids(second) == ["c1"]
    assert second.of("seed") == []


async def test_a_goaway_during_a_call_rotates_after_the_answer_and_a_handle_after_it() -> None:
    line, rec, tool = ScriptedLine(), Recorder(), GatedTool()
    async with a_call(line, session_with(line, rec, tool)) as first:
        handle(first, "h1")
        tool_call(first)
        await rec.wait(ev.ToolCallStarted)
        first.push(go_away={"time_left": "20s"})
        await rec.wait(ev.GoAway)
        await asyncio.sleep(0.2)
        assert len(line.connections) == 1  # the rotation waits for the call
        tool.gate.set()
        await first.written(lambda: bool(first.of("tool")))
        await asyncio.sleep(0.1)
        assert len(line.connections) == 1  # answered, but no handle after the answer yet
        first.push(**model_audio())
        first.push(server_content={"turn_complete": True})
        handle(first, "h2")
        await rec.wait(ev.UpstreamConnected, resumed=True)
    second = line.connections[1]
    assert tool_ids(first) == ["c1"] and tool_ids(second) == []
    assert second.handle == "h2" and second.of("seed") == []


async def test_a_fresh_session_gets_the_tool_history_in_its_seed() -> None:
    line, rec, tool = ScriptedLine(), Recorder(), GatedTool()
    tool.gate.set()
    async with a_call(line, session_with(line, rec, tool)) as first:
        tool_call(first)
        await first.written(lambda: bool(first.of("tool")))
        first.push(**model_audio())
        first.push(server_content={"turn_complete": True})
        first.drop(1008, "session not found")
        await rec.wait(ev.UpstreamConnected, purpose="fresh")
        second = line.current
        await second.written(lambda: bool(second.of("seed")))
    (seed,) = second.of("seed")
    text = " ".join(t for _, t in seed)
    assert "[I called the tool lookup_order" in text and "shipped" in text
    assert tool_ids(second) == []


async def test_a_result_the_model_never_speaks_about_is_judged_and_nudged() -> None:
    line, rec = ScriptedLine(), Recorder()
    tools = [{"function": "liveguard.tools.examples:lookup_order", "behavior": "BLOCKING"}]
    async with a_call(line, session_with_tools(line, rec, tools)) as up:
        tool_call(up)
        await up.written(lambda: bool(up.of("tool")))
        verdict = await rec.wait(ev.Verdict, kind="unanswered_turn")
        await up.written(lambda: bool(up.of("text")))
    assert verdict.evidence["rule"] == "tool_response_unanswered"
    assert verdict.evidence["tool"] == "lookup_order" and verdict.evidence["call_id"] == "c1"
    assert up.of("text") == ["The result of lookup_order is in; tell the caller."]


async def test_a_silent_result_is_left_alone() -> None:
    line, rec = ScriptedLine(), Recorder()
    tools = [
        {
            "function": "liveguard.tools.examples:lookup_order",
            "behavior": "NON_BLOCKING",
            "scheduling": "SILENT",
        }
    ]
    async with a_call(line, session_with_tools(line, rec, tools)) as up:
        tool_call(up)
        await up.written(lambda: bool(up.of("tool")))
        await asyncio.sleep(0.4)  # four answer deadlines
    assert rec.of(ev.Verdict) == [] and up.of("text") == []


async def test_a_long_blocking_call_plays_the_filler(tmp_path) -> None:
    from liveguard.audio.clips import load_clip
    from liveguard.audio.wav import write_wav

    filler = tmp_path / "filler.wav"
    clip = load_clip("still_here", 16000)
    write_wav(filler, clip.pcm, 16000)
    line, rec, tool = ScriptedLine(), Recorder(), GatedTool()
    settings = Settings(
        model=MODEL,
        guard=GuardPolicy(**FAST),
        filler_audio=filler,
        tool_limits={"filler_after_s": 0.1},
    )
    items: list[Any] = []
    async with GuardedSession(
        settings, upstream_factory=line.factory, on_event=[rec], greeting=False, tool_handler=tool
    ) as session:

        async def read() -> None:
            async for item in session:
                items.append(item)

        reader = asyncio.create_task(read())
        tool_call(line.current)
        await rec.wait(ev.ToolCallStarted)
        await asyncio.sleep(0.3)
        tool.gate.set()
        await line.current.written(lambda: bool(line.current.of("tool")))
        reader.cancel()
    from liveguard.guard.actions import PlayFiller
    from liveguard.session import AudioOut

    assert sum(isinstance(i, PlayFiller) for i in items) == 1
    assert any(isinstance(i, AudioOut) and i.source == "filler" for i in items)


async def test_resumed_from_a_handle_before_the_answer_the_answer_is_sent_again() -> None:
    line, rec, tool = ScriptedLine(), Recorder(), GatedTool()
    async with a_call(line, session_with(line, rec, tool)) as first:
        tool_call(first)
        handle(first, "h-before-answer")
        await rec.wait(ev.ResumptionUpdate)
        tool.gate.set()
        await first.written(lambda: bool(first.of("tool")))
        second = await dropped_and_resumed(line, rec)  # no handle came after the answer
        await second.written(lambda: bool(second.of("tool")))
        routed = await rec.wait(ev.ToolResultRouted)
    assert second.handle == "h-before-answer"
    assert tool_ids(first) == ["c1"] and tool_ids(second) == ["c1"]
    assert (routed.route, routed.ids) == ("resent", ("c1",))
    assert len(tool.calls) == 1  # the tool ran once
