"""Tool calls in the report: spans with durations and outcomes on the timeline, counts in the
summary and the window's paragraph."""

from __future__ import annotations

from liveguard import events as ev
from liveguard.report.summary import Aggregate, summarize
from liveguard.report.timeline import render_timeline


def session_events() -> list[ev.Event]:
    return [
        ev.SessionStarted(t=0.0, session_id="s1", transport="twilio", model="m"),
        ev.ToolCall(t=1.0, ids=("c1",), names=("lookup_order",)),
        ev.ToolCallStarted(t=1.0, call_id="c1", tool="lookup_order", kind="function"),
        ev.ToolCallFinished(
            t=1.25, call_id="c1", tool="lookup_order", outcome="ok", duration_ms=250.0
        ),
        ev.ToolResponse(t=1.25, ids=("c1",)),
        ev.ToolCall(t=3.0, ids=("c2",), names=("check_stock",)),
        ev.ToolCallStarted(t=3.0, call_id="c2", tool="check_stock", kind="webhook"),
        ev.ToolCallFinished(
            t=5.0,
            call_id="c2",
            tool="check_stock",
            outcome="timeout",
            duration_ms=2000.0,
            error="check_stock did not finish within 2 s",
        ),
        ev.ToolResultRouted(t=5.5, ids=("c2",), route="context"),
        ev.SessionEnded(t=6.0, reason="caller hung up"),
    ]


def test_the_summary_counts_tool_calls_by_outcome() -> None:
    s = summarize("s1", session_events(), derive="never")
    assert s.tool_calls == {("lookup_order", "ok"): 1, ("check_stock", "timeout"): 1}
    assert s.tool_max_ms == 2000.0 and s.tool_rerouted == {"context": 1}
    agg = Aggregate(window_s=None)
    agg.add(s)
    text = agg.text()
    assert "Tool calls: 2 (check_stock: 1 timeout; lookup_order: 1 ok); longest 2000 ms" in text
    assert "re-routed after reconnects: 1 context" in text


def test_no_tool_calls_no_tool_line() -> None:
    events = [e for e in session_events() if not type(e).__name__.startswith("Tool")]
    agg = Aggregate(window_s=None)
    agg.add(summarize("s1", events, derive="never"))
    assert "Tool calls" not in agg.text()


def test_the_timeline_draws_each_call_as_a_span_with_its_outcome() -> None:
    svg = render_timeline(session_events())
    assert ">tools</text>" in svg
    assert "tool lookup_order call_id=c1 outcome=ok duration_ms=250" in svg
    assert "outcome=timeout duration_ms=2000 error=check_stock did not finish" in svg
    assert "tool result context ids=(&#x27;c2&#x27;,)" in svg
