"""The guard's tool rules (guard/tools.py) in fast time: which results expect speech, the answer
deadline, the nudge, and the filler for a long BLOCKING call."""

from __future__ import annotations

from liveguard import events as ev
from liveguard.guard.actions import PlayFiller, SendText
from liveguard.guard.tools import ToolGuard, ToolRule


def guard(**rules: ToolRule) -> ToolGuard:
    return ToolGuard(rules, default_behavior="BLOCKING", answer_deadline_s=1.0, filler_after_s=2.0)


def respond(g: ToolGuard, t: float, tool: str, cid: str = "c1") -> None:
    g.feed(ev.ToolCall(t=t - 0.5, ids=(cid,), names=(tool,)))
    g.feed(ev.ToolResponse(t=t, ids=(cid,)))


def verdicts(out: list) -> list[str]:
    return [o.evidence["rule"] for o in out if isinstance(o, ev.Verdict)]


def test_a_blocking_result_with_no_answer_is_judged_then_nudged_then_judged_again() -> None:
    g = guard(lookup=ToolRule("BLOCKING"))
    respond(g, 10.0, "lookup")
    assert g.next_deadline() == 11.0
    assert g.tick(10.9) == []
    out = g.tick(11.0)
    assert verdicts(out) == ["tool_response_unanswered"]
    assert [o.text for o in out if isinstance(o, SendText)] == [
        "The result of lookup is in; tell the caller."
    ]
    out = g.tick(12.0)
    assert verdicts(out) == ["tool_response_unanswered_after_nudge"]
    assert g.next_deadline() is None


def test_model_audio_after_the_result_answers_it() -> None:
    g = guard(lookup=ToolRule("NON_BLOCKING", "INTERRUPT"))
    respond(g, 10.0, "lookup")
    g.feed(ev.ModelAudio(t=10.4, turn=2, bytes=960, gemini_audio_chunks=1))
    assert g.next_deadline() is None and g.tick(20.0) == []


def test_a_silent_result_expects_no_speech() -> None:
    g = guard(log_it=ToolRule("NON_BLOCKING", "SILENT"))
    respond(g, 10.0, "log_it")
    assert g.next_deadline() is None and g.tick(60.0) == []


def test_when_idle_the_deadline_starts_when_the_model_is_done_speaking() -> None:
    g = guard(lookup=ToolRule("NON_BLOCKING", "WHEN_IDLE"))
    g.feed(
        ev.ModelAudio(t=9.0, turn=2, bytes=960, gemini_audio_chunks=1)
    )  # "let me check that for you"
    respond(g, 10.0, "lookup")
    g.feed(
        ev.ModelAudio(t=10.2, turn=2, bytes=960, gemini_audio_chunks=1)
    )  # still the same sentence: no answer
    assert g.next_deadline() is None
    g.feed(ev.TurnComplete(t=11.0, turn=2))
    assert g.next_deadline() == 12.0
    assert verdicts(g.tick(12.0)) == ["tool_response_unanswered"]


def test_the_caller_speaking_hands_over_to_the_turn_rules() -> None:
    g = guard(lookup=ToolRule("BLOCKING"))
    respond(g, 10.0, "lookup")
    g.feed(ev.CallerSpeechStarted(t=10.5))
    assert g.next_deadline() is None


def test_the_main_guards_turn_deadline_is_not_doubled() -> None:
    g = ToolGuard({}, answer_deadline_s=1.0, turn_waiting=lambda: True)
    respond(g, 10.0, "lookup")
    assert g.tick(11.0) == [] and g.next_deadline() is None


def test_the_model_default_decides_an_undeclared_behaviour() -> None:
    g = ToolGuard({"lookup": ToolRule(scheduling="SILENT")}, default_behavior="NON_BLOCKING")
    respond(g, 10.0, "lookup")
    assert g.next_deadline() is None  # NON_BLOCKING by default on 3.8: SILENT applies
    g = ToolGuard({"lookup": ToolRule(scheduling="SILENT")}, default_behavior="BLOCKING")
    respond(g, 10.0, "lookup")
    assert g.next_deadline() == 13.0  # scheduling is ignored for BLOCKING calls


def test_a_long_blocking_call_plays_the_filler_once() -> None:
    g = guard(slow=ToolRule("BLOCKING"), quick=ToolRule("NON_BLOCKING"))
    g.feed(ev.ToolCallStarted(t=1.0, call_id="a", tool="slow"))
    g.feed(ev.ToolCallStarted(t=1.0, call_id="b", tool="quick"))
    assert g.next_deadline() == 3.0
    assert g.tick(3.0) == [PlayFiller()]
    assert g.tick(9.0) == []
    g.feed(ev.ToolCallStarted(t=10.0, call_id="c", tool="slow"))
    g.feed(ev.ToolCallFinished(t=11.0, call_id="c", tool="slow", outcome="ok"))
    assert g.next_deadline() is None
