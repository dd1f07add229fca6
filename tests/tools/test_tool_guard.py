"""The guard's tool rules (guard/tools.py) in fast time: which results expect speech, the answer
deadline, the nudge, and the filler for a long BLOCKING call."""

from __future__ import annotations

from tests.guard.guard_helpers import caller_says, connect, model_turn

from liveguard import events as ev
from liveguard.events import Purpose, Rung
from liveguard.guard import Guard
from liveguard.guard.actions import PlayFallback, PlayFiller, Reconnect, SendText
from liveguard.guard.policy import GuardPolicy
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


# ---------------------------------------------------------------- the ladder after the nudge


class _Both:
    """The main guard and the tool guard wired as the session wires them (session/toolrun.py)."""

    def __init__(self, **rules: ToolRule) -> None:
        self.main = Guard()
        self.tools = ToolGuard(
            rules,
            answer_deadline_s=self.main.policy.answer_deadline_s,
            turn_waiting=lambda: False,
            escalate=self.main.recover_tool_silence,
        )
        self.out: list = []

    def feed(self, *events: ev.Event) -> None:
        for e in events:
            self.until(e.t)
            self.out += self.main.feed(e) + self.tools.feed(e)

    def until(self, t: float) -> None:
        """Run every deadline of either guard due by `t`, in time order (as the ticker does)."""
        while True:
            due = [d for d in (self.main.next_deadline(), self.tools.next_deadline()) if d]
            if not due or min(due) > t:
                return
            now = min(due)
            self.out += self.main.tick(now) + self.tools.tick(now)


def test_a_result_still_unspoken_after_the_nudge_runs_the_rest_of_the_ladder() -> None:
    g = _Both(lookup=ToolRule("NON_BLOCKING", "INTERRUPT"))
    g.feed(*connect(0.0, handle="h-before-call"))
    g.feed(*caller_says(1.0, 1.0, "where is my order"))
    g.feed(ev.ToolCall(t=2.5, ids=("c1",), names=("lookup",)))
    answer, _ = model_turn(2.6, 5, turn=1, text="Let me check that.")
    g.feed(*answer)
    g.feed(ev.ResumptionUpdate(t=4.0, handle="h-knows-the-call", resumable=True))
    g.feed(ev.ToolResponse(t=5.0, ids=("c1",)))
    g.feed(ev.ResumptionUpdate(t=6.0, handle="h-after-result", resumable=True))
    g.until(8.0)  # the answer deadline (3 s): the verdict and the nudge, no reconnect yet
    assert verdicts(g.out) == ["tool_response_unanswered"]
    assert [type(o) for o in g.out if isinstance(o, SendText | Reconnect)] == [SendText]
    g.until(11.0)  # still silent after the nudge: the main guard's ladder, from resume
    assert verdicts(g.out)[-1] == "tool_response_unanswered_after_nudge"
    (resume,) = [o for o in g.out if isinstance(o, Reconnect)]
    # a handle issued before the silent result (one that knows the call id), never one after it
    assert (resume.purpose, resume.handle) == (Purpose.RESUME, "h-knows-the-call")
    # no caller words wait: the resumed session is asked what the nudge asked
    assert resume.replay_text == "The result of lookup is in; tell the caller."
    assert g.main.rung == Rung.RESUME
    # the resumed session stays silent too: a fresh session re-seeded, then the spoken fallback
    g.feed(ev.UpstreamConnecting(t=11.1, attempt=2, purpose=Purpose.RESUME, has_handle=True))
    g.feed(ev.UpstreamConnected(t=11.4, attempt=2, purpose=Purpose.RESUME, resumed=True))
    g.until(13.4)
    fresh = [o for o in g.out if isinstance(o, Reconnect)][-1]
    assert fresh.purpose == Purpose.FRESH and ("model", "Let me check that.") in fresh.seed_turns
    assert fresh.replay_text == resume.replay_text
    g.feed(ev.UpstreamConnecting(t=13.5, attempt=3, purpose=Purpose.FRESH))
    g.feed(ev.UpstreamConnected(t=13.8, attempt=3, purpose=Purpose.FRESH))
    g.until(16.8)
    assert [o for o in g.out if isinstance(o, PlayFallback)]
    rungs = [o.rung for o in g.out if isinstance(o, ev.RecoveryStarted)]
    assert rungs == [Rung.RESUME, Rung.FRESH, Rung.FALLBACK]


def test_an_answer_after_the_resume_ends_the_ladder() -> None:
    g = _Both(lookup=ToolRule("BLOCKING"))
    g.feed(*connect(0.0))
    g.feed(ev.ToolCall(t=2.5, ids=("c1",), names=("lookup",)))
    g.feed(ev.ToolResponse(t=3.0, ids=("c1",)))
    g.until(9.0)
    assert g.main.rung == Rung.RESUME
    g.feed(ev.UpstreamConnecting(t=9.1, attempt=2, purpose=Purpose.RESUME, has_handle=True))
    g.feed(ev.UpstreamConnected(t=9.4, attempt=2, purpose=Purpose.RESUME, resumed=True))
    answer, end = model_turn(9.8, 5, turn=2, text="Your order ships today.")
    g.feed(*answer)
    g.until(end + 30.0)
    assert not g.main.recovering and not [o for o in g.out if isinstance(o, PlayFallback)]
    done = [o for o in g.out if isinstance(o, ev.RecoveryFinished)]
    assert [(o.rung, o.outcome) for o in done] == [(Rung.RESUME, "answered")]


def test_no_escalation_while_the_main_guard_already_recovers_or_is_off() -> None:
    off = Guard(GuardPolicy(enabled=False))
    assert off.recover_tool_silence(10.0, 5.0, "tool_response_unanswered_after_nudge") == []
    g = _Both(lookup=ToolRule("BLOCKING"))
    g.feed(*connect(0.0))
    first = g.main.recover_tool_silence(10.0, 5.0, "x")
    assert [type(o) for o in first if isinstance(o, Reconnect)] == [Reconnect]
    assert g.main.recover_tool_silence(10.5, 5.0, "x") == []  # one ladder at a time
