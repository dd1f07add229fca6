"""The tool runner: every call answered (a result or a speakable error), cancellation, bounds."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
import tool_fixtures
from google.genai import types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from json_strategies import json_values
from liveguard import events as ev
from liveguard.config.settings import Settings
from liveguard.tools import ToolLimits, ToolRunner

M = "tool_fixtures"


def runner(*entries: dict, redact: bool = False, **limits: float) -> tuple[ToolRunner, list]:
    log: list[ev.Event] = []
    s = Settings(tools=list(entries), tool_limits=limits)
    return ToolRunner.from_entries(
        s.tools, limits=s.tool_limits, redact=redact, emit=log.append
    ), log


def call(tool: str, call_id: str | None = "c1", /, **args: object) -> types.FunctionCall:
    return types.FunctionCall(id=call_id, name=tool, args=args)


def finished(log: list[ev.Event]) -> list[ev.ToolCallFinished]:
    return [e for e in log if isinstance(e, ev.ToolCallFinished)]


async def running(n: int) -> None:
    """Until n fixture tools are inside their call (they run in this loop; polling is cheapest)."""
    async with asyncio.timeout(5):
        while int(tool_fixtures.state["active"]) < n:  # noqa: ASYNC110
            await asyncio.sleep(0.005)


@pytest.fixture(autouse=True)
def reset_state() -> None:
    tool_fixtures.state.update(calls=0, cancelled=0, active=0, peak=0)


async def test_sync_and_async_callables_answer_with_their_result() -> None:
    r, log = runner({"function": f"{M}:add"}, {"function": f"{M}:greet"})
    decl = {d.name: d for d in r.declarations()[0].function_declarations}
    assert decl["add"].description == "Add two whole numbers."
    assert decl["add"].parameters_json_schema["required"] == ["a"]
    resp = await r.run(call("add", a=2, b=40))
    assert (resp.id, resp.name, resp.response) == ("c1", "add", {"output": 42})
    resp = await r.run(call("greet", "c2", name="Ada"))
    assert resp.response == {"output": {"greeting": "hello Ada"}}
    assert [(e.call_id, e.outcome) for e in finished(log)] == [("c1", "ok"), ("c2", "ok")]
    started = [e for e in log if isinstance(e, ev.ToolCallStarted)]
    assert started[0].args == {"a": 2, "b": 40} and started[0].kind == "function"
    await r.aclose()


async def test_pydantic_model_parameter_declares_and_validates() -> None:
    r, log = runner({"function": f"{M}:book_table"})
    schema = r.declarations()[0].function_declarations[0].parameters_json_schema
    assert set(schema["properties"]) == {"date", "people"}
    ok = await r.run(call("book_table", date="2026-12-24", people=4))
    assert ok.response["output"] == {"booked": True, "date": "2026-12-24", "people": 4}
    bad = await r.run(call("book_table", date="tomorrow", people=4))
    assert "error" in bad.response and "date" in bad.response["error"]
    assert finished(log)[-1].outcome == "invalid_args"


async def test_failing_tool_gives_a_speakable_error() -> None:
    r, log = runner({"function": f"{M}:explode"})
    resp = await r.run(call("explode", reason="maintenance"))
    assert resp.id == "c1" and set(resp.response) == {"error"}
    assert "RuntimeError" in resp.response["error"] and "stock system" in resp.response["error"]
    assert finished(log)[0].outcome == "error"


async def test_timing_out_tool_is_answered_at_its_timeout() -> None:
    r, log = runner({"function": f"{M}:slow", "timeout_s": 0.2})
    t0 = time.perf_counter()
    resp = await r.run(call("slow", seconds=30))
    took = time.perf_counter() - t0
    assert 0.15 < took < 2.0
    assert "within 0.2 s" in resp.response["error"]
    assert finished(log)[0].outcome == "timeout"
    assert tool_fixtures.state["cancelled"] == 1  # the coroutine itself was stopped


async def test_blocking_sync_tool_still_answers_at_its_timeout() -> None:
    r, _ = runner({"function": f"{M}:sync_slow", "timeout_s": 0.2})
    t0 = time.perf_counter()
    resp = await r.run(call("sync_slow", seconds=1.0))
    assert time.perf_counter() - t0 < 0.9 and "error" in resp.response
    await asyncio.sleep(0.9)  # let the worker thread finish before the test ends


async def test_cancellation_stops_the_call_and_nothing_is_sent() -> None:
    r, log = runner({"function": f"{M}:slow"}, {"function": f"{M}:add"})
    slow_task = asyncio.create_task(r.run(call("slow", "s1", seconds=30)))
    other = asyncio.create_task(r.run(call("slow", "s2", seconds=0.05)))
    await running(2)
    assert r.cancel(["s1", "unknown"]) == ["s1"]
    assert await asyncio.wait_for(slow_task, 2) is None
    assert (await other).response == {"output": "done"}  # the other call is unaffected
    assert tool_fixtures.state["cancelled"] == 1
    outcomes = {e.call_id: e.outcome for e in finished(log)}
    assert outcomes == {"s1": "cancelled", "s2": "ok"}
    assert r.running == 0 and r.cancel(["s1"]) == []


async def test_session_teardown_cancels_and_propagates() -> None:
    r, _ = runner({"function": f"{M}:slow"})
    task = asyncio.create_task(r.run(call("slow", seconds=30)))
    await running(1)
    task.cancel()  # the session itself going away is not a toolCallCancellation
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tool_fixtures.state["cancelled"] == 1


async def test_undeclared_name_is_refused_and_logged() -> None:
    r, log = runner({"function": f"{M}:add"})
    resp = await r.run(call("delete_everything", path="/"))
    assert resp.name == "delete_everything" and "no tool named" in resp.response["error"]
    assert finished(log)[0].outcome == "undeclared" and tool_fixtures.state["calls"] == 0


async def test_invalid_arguments_never_reach_the_tool() -> None:
    r, log = runner({"function": f"{M}:add"})
    for args in ({"a": "two"}, {}, {"a": 1, "c": 2}, {"a": 1.5}):
        resp = await r.run(call("add", **args))
        assert resp.response["error"].startswith("invalid arguments"), args
    assert tool_fixtures.state["calls"] == 0
    assert {e.outcome for e in finished(log)} == {"invalid_args"}


async def test_oversized_result_is_an_error_not_a_flood() -> None:
    r, log = runner({"function": f"{M}:big"}, max_result_bytes=1000)
    assert (await r.run(call("big", n=900))).response == {"output": "x" * 900}
    resp = await r.run(call("big", n=5000))
    assert "too large" in resp.response["error"] and "limit 1000" in resp.response["error"]
    assert len(json.dumps(resp.response)) < 1000
    assert [e.outcome for e in finished(log)] == ["ok", "too_large"]


async def test_concurrency_is_bounded_and_overflow_is_answered() -> None:
    r, log = runner({"function": f"{M}:slow"}, max_concurrent=2, max_pending=4)
    tasks = [asyncio.create_task(r.run(call("slow", f"k{i}", seconds=0.1))) for i in range(6)]
    results = await asyncio.gather(*tasks)
    assert tool_fixtures.state["peak"] == 2
    outputs = [res.response for res in results]
    assert outputs.count({"output": "done"}) == 4
    busy = [o for o in outputs if "error" in o]
    assert len(busy) == 2 and all("too many" in o["error"] for o in busy)
    assert sorted(e.outcome for e in finished(log)).count("busy") == 2


async def test_scheduling_and_missing_ids() -> None:
    r, _ = runner(
        {"function": f"{M}:add", "behavior": "NON_BLOCKING", "scheduling": "SILENT"},
        {"function": f"{M}:greet", "behavior": "BLOCKING", "scheduling": "INTERRUPT"},
    )
    decl = {d.name: d for d in r.declarations()[0].function_declarations}
    assert decl["add"].behavior == types.Behavior.NON_BLOCKING
    resp = await r.run(call("add", None, a=1))  # Vertex sends calls without ids
    assert resp.id is None and resp.scheduling == types.FunctionResponseScheduling.SILENT
    resp = await r.run(call("greet", name="x"))
    assert resp.scheduling is None  # BLOCKING results are not scheduled


async def test_redacted_logs_keep_keys_and_outcomes_only() -> None:
    r, log = runner({"function": f"{M}:explode"}, {"function": f"{M}:add"}, redact=True)
    await r.run(call("explode", reason="card 4111-1111"))
    await r.run(call("add", "c2", a=7))
    records = [e.to_record() for e in log]
    text = json.dumps(records)
    assert "4111" not in text and "stock system" not in text
    started = [rec for rec in records if rec["event"] == "tool_call_started"]
    assert started[0]["args"] == {"reason": "[redacted]"}
    back = [ev.event_from_record(rec) for rec in records]  # the log reads back
    assert [(type(e), e.fields()) for e in back] == [(type(e), e.fields()) for e in log]


LOOKUP = {"function": "liveguard.tools.examples:lookup_order"}


def valid_order_args(args: dict) -> bool:
    """The declaration's rule, written independently: only order_number, 1-12 digits."""
    return (
        set(args) == {"order_number"}
        and isinstance(args["order_number"], str)
        and re.fullmatch(r"[0-9]{1,12}", args["order_number"]) is not None
    )


arguments = st.dictionaries(
    st.sampled_from(["order_number", "order", "x", ""]) | st.text(max_size=6),
    st.from_regex(r"[0-9]{1,14}", fullmatch=True)
    | json_values(text_size=14, key_size=5, size=3, leaves=6),
    max_size=3,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=arguments)
def test_any_arguments_get_exactly_one_answer(args: dict) -> None:
    async def go() -> types.FunctionResponse | None:
        r = ToolRunner.from_entries(Settings(tools=[LOOKUP]).tools, limits=ToolLimits())
        try:
            return await r.run(call("lookup_order", **args))
        finally:
            await r.aclose()

    resp = asyncio.run(go())
    assert resp is not None and resp.id == "c1"
    assert len(resp.response) == 1
    if valid_order_args(args):
        assert "output" in resp.response
    else:
        assert resp.response["error"].startswith("invalid arguments"), resp.response


async def test_dispatcher_survives_a_session_that_ended() -> None:
    from liveguard.session import ToolCallOut
    from liveguard.tools import ToolDispatcher

    r, log = runner({"function": f"{M}:add"})
    sent: list = []

    async def closed(responses: list) -> None:
        sent.append(responses)
        raise RuntimeError("session closed")

    d = ToolDispatcher(r, closed)
    calls = (call("add", "d1", a=1), call("add", "d2", a=2))
    d.on_item(ToolCallOut(calls, ev.ToolCall(t=0.0, ids=("d1", "d2"), names=("add", "add"))))
    d.on_item(ev.OutputTranscript(t=0.0, text="ignored"))
    async with asyncio.timeout(5):
        while d.send_failures < 2:  # noqa: ASYNC110 - the calls run in this loop
            await asyncio.sleep(0.005)
    assert len(sent) == 2 and d.sent == 0
    assert sorted(e.outcome for e in finished(log)) == ["ok", "ok"]
    d.on_item(ToolCallOut(calls[:1], ev.ToolCall(t=1.0, ids=("d1",), names=("add",))))
    await d.aclose()  # a call not started yet is stopped too: nothing more is sent
    assert len(sent) == 2 and r.running == 0


async def test_cancelled_before_it_ran_is_still_a_complete_span() -> None:
    r, log = runner({"function": f"{M}:add"})
    task = asyncio.create_task(r.run(call("add", "early", a=1)))
    await asyncio.sleep(0)  # run() registered the call; its task has not started yet
    assert r.cancel(["early"]) == ["early"]
    assert await task is None and tool_fixtures.state["calls"] == 0
    assert [type(e).__name__ for e in log] == ["ToolCallStarted", "ToolCallFinished"]
    assert finished(log)[0].outcome == "cancelled"
