"""The guard and tools end to end with emulator faults, through the real SDK over TLS: the upstream
closes with 1011 while a tool runs, and a goAway arrives while a tool runs. Each time the caller
hears an answer, and no `toolResponse` reaches a connection that never saw its call id (asserted
at the emulator, per connection).

The scenarios are the built-in `tool-call` one plus a fault, written for the test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import tool_fixtures
import yaml

from liveguard import events as ev
from liveguard.audio.clips import clip_text
from liveguard.config.settings import Settings
from liveguard.emulator.server import Emulator
from liveguard.session import GuardedSession, make_client

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
TOOL_CALL = {
    "function": "lookup_order",
    "args": {"order_number": "456"},
    "on_utterance": "order_number",
    "reply": "order_shipped",
}


def scenario(tmp_path: Path, name: str, **extra: Any) -> Path:
    path = tmp_path / f"{name}.yaml"
    body = {"name": name, "description": name, "seed": 7, "model": {"tool_call": TOOL_CALL}}
    path.write_text(yaml.safe_dump({**body, **extra}))
    return path


async def converse(
    emu: Emulator, tools: list[dict], until: float, done: Any = lambda log: True
) -> list[ev.Event]:
    """Ask about the order; collect events until the model has spoken after the tool answered
    (and `done(log)` holds)."""
    settings = Settings(model=MODEL, tools=tools, greeting=None)
    client = make_client(
        settings, api_key=emu.api_key, base_url=emu.base_url, ssl_context=emu.ssl_context()
    )
    log: list[ev.Event] = []
    async with GuardedSession(settings, client=client, greeting=False, on_event=[log.append]) as s:
        await s.send_text(clip_text("order_number"))
        answered_at: float | None = None
        async with asyncio.timeout(until):
            async for item in s:
                if isinstance(item, ev.ToolCallFinished):
                    answered_at = item.t
                if isinstance(item, ev.TurnComplete) and answered_at is not None:
                    spoke = [e for e in log if isinstance(e, ev.ModelAudio) and e.t > answered_at]
                    if spoke and done(log):
                        break
                if isinstance(item, ev.UpstreamConnected) and answered_at and done(log):
                    break
    return log


def of(log: list[ev.Event], cls: type) -> list[Any]:
    return [e for e in log if isinstance(e, cls)]


def rotated(log: list[ev.Event]) -> list[ev.UpstreamConnected]:
    return [e for e in log if isinstance(e, ev.UpstreamConnected) and e.purpose == "rotate"]


SLOW = [{"function": "tool_fixtures:slow_lookup", "name": "lookup_order", "timeout_s": 2.0}]


async def test_a_1011_during_a_tool_call_the_result_reaches_the_new_session_as_context(
    tmp_path: Path,
) -> None:
    tool_fixtures.state.update(cancelled=0, active=0)
    close = {"close": {"code": 1011, "at_s": 1.2, "max_times": 1}}
    path = scenario(tmp_path, "tool-drop-1011", faults=close)
    async with Emulator(scenario=path) as emu:
        log = await converse(emu, SLOW, until=25)
        stats = [s.model_stats for s in await emu.wait_closed_sessions()]
    assert [e.code for e in of(log, ev.UpstreamClosed) if e.side == "server"] == [1011]
    first_call = of(log, ev.ToolCall)[0].ids[0]
    finished = {e.call_id: e.outcome for e in of(log, ev.ToolCallFinished)}
    assert finished[first_call] == "timeout"  # the slow tool was answered for, never left silent
    (routed,) = of(log, ev.ToolResultRouted)
    assert routed.route == "context" and routed.ids == (first_call,)
    # every call the model made was answered or cancelled by the server: none left waiting
    answered = {i for e in of(log, ev.ToolResponse) for i in e.ids}
    cancelled = {i for e in of(log, ev.ToolCallCancelled) for i in e.ids}
    assert {i for e in of(log, ev.ToolCall) for i in e.ids} == answered | cancelled
    first, second = stats[0], stats[1]
    assert first.tool_calls_sent == 1 and first.tool_responses == 0  # it closed first
    assert second.tool_responses == 0  # never a toolResponse where the call id is unknown
    assert first.tool_call_ids == [first_call] and second.unknown_tool_responses == []
    assert second.client_contents >= 1  # the result, as conversation context
    assert second.audio_chunks_sent > 0  # and the caller hears the model again


async def test_a_goaway_during_a_tool_call_rotates_after_the_answer(tmp_path: Path) -> None:
    tool_fixtures.state.update(cancelled=0, active=0)
    quick_slow = [
        {"function": "tool_fixtures:slow_lookup", "name": "lookup_order", "timeout_s": 1.5}
    ]
    connection = {"lifetime_s": 12, "goaway_time_left_s": 10.8}  # goAway at 1.2 s
    path = scenario(tmp_path, "tool-goaway", connection=connection)
    async with Emulator(scenario=path) as emu:
        log = await converse(emu, quick_slow, until=25, done=rotated)
        stats = [s.model_stats for s in await emu.wait_closed_sessions()]
    (goaway,) = of(log, ev.GoAway)
    (finished,) = of(log, ev.ToolCallFinished)
    (response,) = of(log, ev.ToolResponse)
    assert of(log, ev.ToolCall)[0].t < goaway.t < finished.t  # the goAway came during the call
    assert stats[0].tool_calls_sent == 1 and stats[0].tool_responses == 1
    (rotation,) = rotated(log)
    assert rotation.t > response.t  # never before the answer was delivered
    handles = [e for e in of(log, ev.ResumptionUpdate) if e.handle and e.t < rotation.t]
    assert handles[-1].t > response.t  # and a handle issued after it
    assert len(stats) == 2 and stats[1].resumed and stats[1].tool_responses == 0
    assert [s.unknown_tool_responses for s in stats] == [[], []]
    spoken = " ".join(e.text for e in of(log, ev.OutputTranscript))
    assert clip_text("order_shipped").split()[0] in spoken


async def test_no_answer_after_a_tool_response_the_caller_still_hears_one(tmp_path: Path) -> None:
    path = scenario(tmp_path, "tool-no-answer", faults={"tool_no_answer": {"max_times": 1}})
    async with Emulator(scenario=path) as emu:
        log = await converse(emu, [{"function": "liveguard.tools.examples:lookup_order"}], 25)
        stats = [s.model_stats for s in emu.sessions]
    (response,) = of(log, ev.ToolResponse)
    assert stats[0].tool_answers_withheld == 1  # the model went silent after the response
    assert any(e.kind == "unanswered_turn" for e in of(log, ev.Verdict))  # the guard saw it
    assert [e for e in of(log, ev.ModelAudio) if e.t > response.t]  # and the caller hears one
    assert all(s.unknown_tool_responses == [] for s in stats)


async def test_a_tool_result_ignored_after_the_nudge_too_is_recovered_by_the_ladder(
    tmp_path: Path,
) -> None:
    # the model says nothing after the response, then stalls on the nudge (turn 2) as well
    faults = {"tool_no_answer": {"max_times": 1}, "silent_stall": {"from_turn": 2, "turns": 1}}
    path = scenario(tmp_path, "tool-no-answer-twice", faults=faults)
    recovered = lambda log: bool(of(log, ev.RecoveryFinished))  # noqa: E731
    async with Emulator(scenario=path) as emu:
        tools = [{"function": "liveguard.tools.examples:lookup_order"}]
        log = await converse(emu, tools, 30, done=recovered)
        stats = [s.model_stats for s in await emu.wait_closed_sessions()]
    response = of(log, ev.ToolResponse)[0]
    rules = [e.evidence.get("rule") for e in of(log, ev.Verdict) if e.evidence.get("tool")]
    assert rules == ["tool_response_unanswered", "tool_response_unanswered_after_nudge"]
    # the ladder after the nudge: resume needs a handle issued before the response (the
    # emulator issues none during the call), so the fresh session re-seeded answers
    (rung,) = [e.rung for e in of(log, ev.RecoveryStarted)]
    assert rung in ("resume", "fresh")
    assert [(e.rung, e.outcome) for e in of(log, ev.RecoveryFinished)] == [(rung, "answered")]
    (again,) = [e for e in of(log, ev.UpstreamConnected) if e.purpose == rung]
    assert again.t > response.t and [e for e in of(log, ev.ModelAudio) if e.t > again.t]
    assert stats[0].tool_answers_withheld == 1 and stats[0].empty_turns == 1
    assert all(s.unknown_tool_responses == [] for s in stats)
