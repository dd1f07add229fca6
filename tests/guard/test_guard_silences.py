"""Today's silences, one rule at a time (issue 13): a single silent stall, inaudible answers,
NEED_MORE_INPUT / waitingForInput, background work and its budget, answers cut mid-sentence,
freezes after a barge-in, setupComplete that never comes, and the verdict -> rung policy."""

from __future__ import annotations

import pytest
from guard_helpers import caller_says, connect, labels, model_turn, run
from pydantic import ValidationError

from liveguard.events import (
    BackgroundWork,
    CallerSpeechStarted,
    GenerationComplete,
    Interrupted,
    ModelAudio,
    OutputTranscript,
    ToolCall,
    ToolResponse,
    TurnAnswered,
    TurnComplete,
    UpstreamConnected,
    UpstreamConnecting,
    Verdict,
    VoiceActivity,
)
from liveguard.guard import Guard, GuardPolicy
from liveguard.guard.actions import PlayFiller, Reconnect, SendText

LOUD, QUIET = 4000.0, 18.0  # mean |x| of a healthy answer's chunk; of #40's inaudible answers


def greeted(policy: GuardPolicy | None = None) -> Guard:
    guard = Guard(policy or GuardPolicy())
    greeting, _ = model_turn(0.5, 11, 1, "Hello.")
    run(guard, connect() + greeting)
    return guard


def audio(t: float, level: float = LOUD, turn: int = 2) -> ModelAudio:
    return ModelAudio(t=t, bytes=1920, gemini_audio_chunks=0, turn=turn, level=level)


def spoken(t: float, n: int, level: float = LOUD, step: float = 0.04) -> list[ModelAudio]:
    return [audio(t + i * step, level) for i in range(n)]


def verdicts(out: list) -> list[Verdict]:
    return [o for o in out if isinstance(o, Verdict)]


# ---------------------------------------------------------------- a single silent stall


def test_a_single_empty_turn_complete_starts_the_nudge_at_once():
    guard = greeted()
    out = run(guard, [*caller_says(10.0, 1.0, "where is my order"), TurnComplete(t=11.8, turn=2)])
    assert labels(out) == [
        "verdict:unanswered_turn",
        "health:recovering",
        "recovery_start:nudge",
        "SendText",
    ]
    assert out[0].evidence["rule"] == "empty_turn" and out[0].t == 11.8
    assert out[3] == SendText(text="where is my order")


def test_the_nudge_failing_climbs_the_ladder():
    guard = greeted()
    run(guard, [*caller_says(10.0, 1.0, "where is my order"), TurnComplete(t=11.8, turn=2)])
    out = run(guard, [], until=13.0)
    assert labels(out)[:3] == ["recovery_end:nudge:timeout", "recovery_start:resume", "Reconnect"]


@pytest.mark.parametrize(
    "close", [{"reason": "NEED_MORE_INPUT"}, {"waiting_for_input": True}], ids=["reason", "waiting"]
)
def test_need_more_input_waits_but_the_deadline_still_bounds_the_silence(close):
    guard = greeted()
    evs = [*caller_says(10.0, 1.0, "I want to"), TurnComplete(t=11.6, turn=2, **close)]
    assert run(guard, evs) == []
    out = run(guard, [], until=20.0)  # the caller said nothing more, the model neither
    assert labels(out)[:3] == [
        "verdict:unanswered_turn",
        "health:recovering",
        "recovery_start:nudge",
    ]
    assert out[0].t == 14.4 and out[0].evidence["rule"] == "answer_deadline"


def test_need_more_input_then_an_answer_in_time_is_healthy():
    guard = greeted()
    evs = [
        *caller_says(10.0, 1.0, "I want to"),
        TurnComplete(t=11.6, turn=2, reason="NEED_MORE_INPUT"),
    ]
    evs += [*spoken(13.0, 20), TurnComplete(t=14.0, turn=3)]
    out = run(guard, evs, until=60.0)
    assert labels(out) == []
    assert [o.latency_s for o in out if isinstance(o, TurnAnswered)] == [pytest.approx(1.6)]


# ---------------------------------------------------------------- inaudible answers


def test_an_inaudible_answer_is_an_unanswered_turn_with_its_level_as_evidence():
    guard = greeted()
    evs = [*caller_says(10.0, 1.0, "where is my order"), *spoken(11.6, 25, QUIET)]
    evs += [OutputTranscript(t=11.7, text="It ships tomorrow."), GenerationComplete(t=12.6)]
    evs += [TurnComplete(t=12.7, turn=2)]
    out = run(guard, evs)
    assert not [o for o in out if isinstance(o, TurnAnswered)]  # nothing the caller heard
    assert labels(out) == [
        "verdict:unanswered_turn",
        "health:recovering",
        "recovery_start:nudge",
        "SendText",
    ]
    ev = out[0].evidence
    assert ev["rule"] == "inaudible_answer"
    assert (ev["inaudible_chunks"], ev["level_mean"], ev["level_max"]) == (25, 18.0, 18.0)
    assert ev["inaudible_level"] == 100.0 and ev["inaudible_audio_s"] == pytest.approx(1.0)
    # the retry is heard: the ladder is done, the answer's latency counts from the end of speech
    out = run(guard, spoken(13.5, 3))
    assert labels(out) == ["recovery_end:nudge:answered", "health:healthy"]
    assert [o.latency_s for o in out if isinstance(o, TurnAnswered)] == [pytest.approx(2.1)]


def test_inaudible_audio_past_the_deadline_is_judged_at_the_deadline():
    guard = greeted()
    chunks = spoken(11.6, 100, QUIET)
    out = run(guard, [*caller_says(10.0, 1.0, "hello"), *chunks])
    first = verdicts(out)[0]
    assert first.t == 14.4 and first.evidence["rule"] == "inaudible_answer"
    assert first.evidence["inaudible_chunks"] == sum(1 for c in chunks if c.t < 14.4)


def test_quiet_lead_in_then_speech_is_answered_at_the_first_audible_chunk():
    guard = greeted()
    evs = [*caller_says(10.0, 1.0, "hello"), *spoken(11.6, 5, QUIET), *spoken(11.8, 10)]
    evs += [OutputTranscript(t=11.9, text="Hi."), TurnComplete(t=12.5, turn=2)]
    out = run(guard, evs, until=30)
    assert labels(out) == []
    assert [o.latency_s for o in out if isinstance(o, TurnAnswered)] == [pytest.approx(0.4)]


def test_the_audible_level_is_a_setting():
    guard = greeted(GuardPolicy(inaudible_level=10.0))
    evs = [*caller_says(10.0, 1.0, "hello"), *spoken(11.6, 5, QUIET), TurnComplete(t=12.0, turn=2)]
    assert labels(run(guard, evs, until=30)) == []


# ---------------------------------------------------------------- background work


def _filler_then_in_progress(guard: Guard, t: float = 10.0) -> list:
    evs = [*caller_says(t, 1.0, "book me a table"), *spoken(t + 2.0, 10)]
    evs += [OutputTranscript(t=t + 2.1, text="Let me check."), GenerationComplete(t=t + 2.5)]
    evs += [TurnComplete(t=t + 2.6, turn=2, interaction_status="IN_PROGRESS")]
    return run(guard, evs)


def test_background_work_within_the_budget_is_quiet_and_idle_ends_it():
    guard = greeted()
    out = _filler_then_in_progress(guard)
    assert labels(out) == ["background"]
    assert (out[-1].phase, out[-1].budget_s) == ("start", 30.0)
    # 25 s of silence, the caller asks "hello?" meanwhile: no deadline, no nudge, no reconnect
    out = run(guard, caller_says(20.0, 0.8, "hello?"), until=37.5)
    assert labels(out) == []
    out = run(guard, [*spoken(37.6, 30), TurnComplete(t=39.0, turn=3, interaction_status="IDLE")])
    assert labels(out) == ["background"]
    assert (out[-1].phase, out[-1].duration_s) == ("end", pytest.approx(26.4))
    assert run(guard, [], until=120) == []


def test_an_in_progress_turn_without_audio_is_not_an_unanswered_turn():
    guard = greeted()
    evs = [
        *caller_says(10.0, 1.0, "plan my trip"),
        TurnComplete(t=12.0, turn=2, interaction_status="IN_PROGRESS"),
    ]
    out = run(guard, evs, until=30.0)
    assert labels(out) == ["background"]
    out = run(guard, [*spoken(31.0, 5), TurnComplete(t=31.5, turn=3, interaction_status="IDLE")])
    assert labels(out) == ["background"] and [o.name for o in out if isinstance(o, TurnAnswered)]


def _stalls_in_the_background(guard: Guard, until: float) -> list:
    """The filler, then IN_PROGRESS, then silence until `until`: a background stall and a nudge."""
    _filler_then_in_progress(guard)
    out = run(guard, [], until=until)
    assert labels(out)[:5] == [
        "background",
        "verdict:background_stall",
        "health:recovering",
        "recovery_start:nudge",
        "SendText",
    ]
    return out


def test_background_silence_past_the_budget_is_a_stall_and_recovery_starts():
    guard = greeted()
    out = _stalls_in_the_background(guard, until=60.0)
    bg, stall = out[0], out[1]
    assert isinstance(bg, BackgroundWork) and bg.phase == "over_budget"
    assert stall.t == pytest.approx(42.6)  # IN_PROGRESS at 12.6 + 30 s of silence
    assert stall.evidence["silent_s"] == 30.0 and stall.evidence["budget_s"] == 30.0
    assert out[4] == SendText(text="book me a table")


def test_a_stalled_background_task_is_replayed_from_the_request_it_was_for():
    """endless-in-progress: the filler answered the request, then nothing; a nudge cannot reach
    the stuck connection, and the resume must ask the request again (its audio from its start),
    not replay the silence since IN_PROGRESS."""
    guard = greeted(GuardPolicy(background_budget_s=5.0))
    out = _stalls_in_the_background(
        guard, until=30.0
    )  # "book me a table" spoken at 10.0-11.0, IN_PROGRESS at 12.6
    resume = next(o for o in out if isinstance(o, Reconnect))
    assert resume.purpose == "resume" and resume.replay_from_t == pytest.approx(10.0)


def test_audible_progress_restarts_the_background_budget():
    guard = greeted(GuardPolicy(background_budget_s=10.0))
    _filler_then_in_progress(guard)
    out = run(
        guard, [*spoken(20.0, 5), TurnComplete(t=20.5, turn=3, interaction_status="IN_PROGRESS")]
    )
    assert labels(out) == []
    out = run(guard, [], until=29.9)
    assert labels(out) == []
    out = run(guard, [], until=30.5)
    assert labels(out)[:2] == ["background", "verdict:background_stall"]


def test_a_filler_plays_when_background_work_begins_if_configured():
    guard = greeted(GuardPolicy(filler_during_background=True))
    out = _filler_then_in_progress(guard)
    assert labels(out) == ["background", "PlayFiller"]
    assert isinstance(out[-1], PlayFiller)


# ---------------------------------------------------------------- cut answers


def _answer(guard: Guard, text: str, last_level: float) -> list:
    evs = [*caller_says(10.0, 1.0, "when does it arrive"), *spoken(11.6, 20)]
    evs += [audio(12.4, last_level), OutputTranscript(t=12.0, text=text)]
    evs += [TurnComplete(t=12.5, turn=2)]
    return run(guard, evs, until=30)


def test_an_answer_cut_mid_sentence_is_reported():
    out = _answer(greeted(), "Your order will arrive on", LOUD)
    assert labels(out) == ["verdict:cut_answer"]  # reported; no recovery by default
    ev = verdicts(out)[0].evidence
    assert (
        ev["rule"] == "unfinished_sentence" and ev["transcript_tail"] == "Your order will arrive on"
    )
    assert ev["last_chunk_level"] == LOUD and not ev["generation_complete"]


def test_a_cut_answer_can_start_a_nudge():
    guard = greeted(GuardPolicy(recover_from={"cut_answer": "nudge"}))
    out = _answer(guard, "Your order will arrive on", LOUD)
    assert labels(out)[:4] == [
        "verdict:cut_answer",
        "health:recovering",
        "recovery_start:nudge",
        "SendText",
    ]


@pytest.mark.parametrize(
    ("text", "last_level"),
    [("It arrives on Monday.", LOUD), ('He said "Monday!"', LOUD), ("It arrives on Monday", 40.0)],
)
def test_finished_sentences_or_a_fading_end_are_not_cut(text, last_level):
    assert labels(_answer(greeted(), text, last_level)) == []


# ---------------------------------------------------------------- freeze after a barge-in


def test_a_freeze_after_a_barge_in_is_an_unanswered_turn_and_recovers():
    guard = greeted()
    evs = [
        *spoken(20.0, 5),
        CallerSpeechStarted(t=20.2),
        VoiceActivity(t=20.25, kind="ACTIVITY_START"),
    ]
    evs += [Interrupted(t=20.3), TurnComplete(t=20.35, turn=2)]
    evs += caller_says(20.2, 1.0, "no wait, tomorrow")[1:]
    out = run(guard, evs, until=30.0)
    assert labels(out)[:4] == [
        "verdict:real_interrupt",
        "FlushPlayback",
        "verdict:unanswered_turn",
        "health:recovering",
    ]
    ev = out[2].evidence
    assert ev["rule"] == "barge_in_freeze" and ev["interrupt_t"] == 20.3
    assert ev["then_rule"] == "answer_deadline"


def test_an_answer_after_a_barge_in_is_healthy():
    guard = greeted()
    evs = [*spoken(20.0, 10), CallerSpeechStarted(t=20.2), Interrupted(t=20.3)]
    evs += [TurnComplete(t=20.35, turn=2), *caller_says(20.2, 1.0, "no wait")[1:], *spoken(22.5, 5)]
    out = run(guard, evs, until=40.0)
    assert labels(out) == ["verdict:real_interrupt", "FlushPlayback"]


# ---------------------------------------------------------------- setupComplete that never comes


def test_a_connect_without_setup_complete_is_a_setup_timeout_once():
    guard = Guard(GuardPolicy(setup_timeout_s=3.0))
    out = run(guard, [UpstreamConnecting(t=0.0, attempt=1)], until=10.0)
    assert labels(out) == ["verdict:setup_timeout"]
    ev = out[0].evidence
    assert out[0].t == 3.0 and ev["waited_s"] == 3.0 and ev["purpose"] == "initial"
    assert ev["attempt"] == 1 and ev["setup_timeout_s"] == 3.0


def test_a_setup_complete_in_time_is_no_verdict():
    guard = Guard(GuardPolicy(setup_timeout_s=3.0))
    out = run(guard, [UpstreamConnecting(t=0.0, attempt=1), UpstreamConnected(t=2.9, attempt=1)])
    assert labels(run(guard, [], until=60.0)) == [] and labels(out) == []


# ---------------------------------------------------------------- the policy


def test_recover_from_names_known_verdicts_and_rungs():
    with pytest.raises(ValidationError, match="unknown verdict kind"):
        GuardPolicy(recover_from={"phantom": "nudge"})
    with pytest.raises(ValidationError, match="unknown rung"):
        GuardPolicy(recover_from={"unanswered_turn": "pray"})
    p = GuardPolicy(recover_from={"unanswered_turn": "resume"})
    assert p.recover_from["wedge"] == "nudge"  # the others keep their defaults
    assert p.ladder_for("unanswered_turn", list(p.rungs)) == ["resume", "fresh", "fallback"]
    assert p.ladder_for("cut_answer", list(p.rungs)) == []


def test_an_unanswered_turn_can_start_at_a_later_rung():
    guard = greeted(GuardPolicy(recover_from={"unanswered_turn": "resume"}))
    out = run(guard, [*caller_says(10.0, 1.0, "hello"), TurnComplete(t=11.8, turn=2)])
    assert labels(out) == [
        "verdict:unanswered_turn",
        "health:recovering",
        "recovery_start:resume",
        "Reconnect",
    ]


def test_idle_closes_the_work_not_what_the_caller_said_meanwhile():
    guard = greeted()
    _filler_then_in_progress(guard)  # IN_PROGRESS at 12.6
    run(guard, caller_says(20.0, 0.8, "hello?"))  # VAD end at 21.2
    out = run(guard, [TurnComplete(t=25.0, turn=3, interaction_status="IDLE")])
    assert labels(out) == ["background"]  # no empty_turn verdict for the "hello?"
    out = run(guard, [], until=28.1)  # the answer deadline runs from the IDLE
    assert labels(out)[:2] == ["verdict:unanswered_turn", "health:recovering"]
    assert out[0].t == 28.0 and out[0].evidence["rule"] == "answer_deadline"


def test_work_that_ends_idle_without_answering_the_request_is_an_empty_turn():
    guard = greeted()
    evs = [*caller_says(10.0, 1.0, "plan my trip")]
    evs += [TurnComplete(t=12.0, turn=2, interaction_status="IN_PROGRESS")]
    evs += [TurnComplete(t=20.0, turn=3, interaction_status="IDLE")]
    out = run(guard, evs)
    assert labels(out)[:3] == ["background", "background", "verdict:unanswered_turn"]
    assert out[2].evidence["rule"] == "empty_turn"
    assert out[2].evidence["interaction_status"] == "IDLE"


def test_a_part_that_ends_in_progress_is_not_cut():
    """More output may follow an IN_PROGRESS turnComplete: the sentence may go on in it."""
    guard = greeted()
    evs = [*caller_says(10.0, 1.0, "book a table"), *spoken(11.6, 20)]
    evs += [OutputTranscript(t=11.7, text="Let me check the")]
    evs += [TurnComplete(t=12.5, turn=2, interaction_status="IN_PROGRESS")]
    assert labels(run(guard, evs)) == ["background"]


def test_an_inaudible_answer_to_a_tool_result_does_not_count():
    from liveguard.guard.tools import ToolGuard

    g = ToolGuard({}, default_behavior="BLOCKING", answer_deadline_s=1.0)
    g.feed(ToolCall(t=9.5, ids=("c1",), names=("lookup",)))
    g.feed(ToolResponse(t=10.0, ids=("c1",)))
    g.feed(audio(10.3, QUIET))
    assert [o.kind for o in g.tick(11.0) if isinstance(o, Verdict)] == ["unanswered_turn"]
    g = ToolGuard({}, default_behavior="BLOCKING", answer_deadline_s=1.0)
    g.feed(ToolCall(t=9.5, ids=("c1",), names=("lookup",)))
    g.feed(ToolResponse(t=10.0, ids=("c1",)))
    g.feed(audio(10.3))
    assert g.tick(11.0) == []
