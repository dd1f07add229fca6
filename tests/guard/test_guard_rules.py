"""Each guard rule on its own: phantom vs real interrupts, unanswered turns, wedges, the ladder's
bounds, session lifetime (GoAway, closes) and the disabled guard."""

from __future__ import annotations

import pytest
from guard_helpers import caller_says, connect, label, labels, model_turn, run
from pydantic import ValidationError

from liveguard.events import (
    CallerSpeechStarted,
    GoAway,
    HealthChanged,
    InputTranscript,
    Interrupted,
    ModelAudio,
    ResumptionUpdate,
    SessionEnded,
    TurnComplete,
    UpstreamClosed,
    UpstreamConnected,
    UpstreamConnecting,
    Verdict,
    VoiceActivity,
)
from liveguard.guard import Guard, GuardPolicy
from liveguard.guard.actions import FailSession, FlushPlayback, Reconnect


def _greeted(policy: GuardPolicy | None = None) -> tuple[Guard, list]:
    guard = Guard(policy or GuardPolicy())
    greeting, _ = model_turn(0.5, 11, 1, "Hello.")
    return guard, run(guard, connect() + greeting)


def audio(t: float) -> ModelAudio:
    return ModelAudio(t=t, bytes=9600, gemini_audio_chunks=0)


# ---------------------------------------------------------------- interrupts


def test_interrupt_with_local_vad_evidence_is_real_and_flushes():
    guard, _ = _greeted()
    out = run(guard, [CallerSpeechStarted(t=5.0), Interrupted(t=5.3)])
    assert labels(out) == ["verdict:real_interrupt", "FlushPlayback"]
    assert out[0].evidence["evidence"] == "caller_speaking"
    assert guard.state == "healthy"


def test_server_voice_activity_is_evidence():
    guard, _ = _greeted()
    out = run(guard, [VoiceActivity(t=5.0, kind="ACTIVITY_START"), Interrupted(t=5.2)])
    assert labels(out) == ["verdict:real_interrupt", "FlushPlayback"]
    assert out[0].evidence["evidence"] == "voice_activity"


def test_evidence_older_than_the_window_does_not_count():
    guard, _ = _greeted()
    answer, end = model_turn(6.0, 5, 2)
    run(guard, [*caller_says(4.0, 1.0, "hi there"), *answer])
    out = run(
        guard, [InputTranscript(t=end, text=" late"), Interrupted(t=end + 2.0)], until=end + 3
    )
    assert labels(out) == ["verdict:phantom_interrupt", "health:suspect"]
    assert out[0].evidence["last_speech_evidence"] == "input_transcript"
    assert out[0].evidence["last_speech_evidence_age_s"] == 2.0


def test_late_evidence_within_grace_makes_the_interrupt_real():
    guard, _ = _greeted()
    out = run(guard, [Interrupted(t=5.0), InputTranscript(t=5.3, text="wait")], until=9.0)
    assert labels(out)[:2] == ["verdict:real_interrupt", "FlushPlayback"]
    assert out[0].evidence["rule"] == "late_speech_evidence"
    assert "verdict:phantom_interrupt" not in labels(out)


def test_phantom_does_not_flush_unless_the_policy_says_so():
    guard, _ = _greeted(GuardPolicy(phantom_grace_s=0))
    out = run(guard, [Interrupted(t=5.0)])
    assert labels(out) == ["verdict:phantom_interrupt", "health:suspect"]
    guard, _ = _greeted(GuardPolicy(phantom_grace_s=0, flush_on_phantom=True))
    out = run(guard, [Interrupted(t=5.0)])
    assert labels(out) == ["verdict:phantom_interrupt", "FlushPlayback", "health:suspect"]


def test_disabled_guard_flushes_every_interrupt_and_judges_nothing():
    guard, _ = _greeted(GuardPolicy(enabled=False))
    out = run(guard, [Interrupted(t=5.0), *caller_says(10.0, 1.0, "hello there")], until=60.0)
    assert labels(out) == ["FlushPlayback"]


# ---------------------------------------------------------------- unanswered turns and wedges


def test_one_unanswered_turn_starts_recovery_at_the_nudge():
    guard, _ = _greeted()
    out = run(guard, caller_says(10.0, 1.0, "hello there"), until=14.5)
    assert labels(out) == [
        "verdict:unanswered_turn",
        "health:recovering",
        "recovery_start:nudge",
        "SendText",
    ]
    assert out[0].t == 14.4 and out[0].evidence["rule"] == "answer_deadline"
    assert out[2].reason == "unanswered_turn" and out[3].text == "hello there"
    out = run(guard, [audio(14.9)])
    assert labels(out) == ["recovery_end:nudge:answered", "health:healthy"]


def test_without_recovery_for_unanswered_turns_two_in_a_row_make_a_wedge():
    guard, _ = _greeted(GuardPolicy(recover_from={"unanswered_turn": "none"}))
    out = run(guard, caller_says(10.0, 1.0, "hello there"), until=20.0)
    assert labels(out) == ["verdict:unanswered_turn"]
    assert out[0].t == 14.4 and out[0].evidence["rule"] == "answer_deadline"
    out = run(guard, caller_says(20.0, 1.0, "are you there"), until=30.0)
    assert labels(out)[:3] == ["verdict:unanswered_turn", "verdict:wedge", "health:wedged"]
    assert out[1].evidence["rule"] == "unanswered_in_row"
    assert out[1].evidence["unanswered_in_row"] == 2


def test_answered_turn_resets_the_run():
    guard, _ = _greeted(GuardPolicy(recover_from={"unanswered_turn": "none"}))
    out = run(guard, caller_says(10.0, 1.0, "hello there"), until=20.0)
    answer, end = model_turn(20.0, 5, 2)
    out = run(guard, [*caller_says(19.0, 0.5, "hello?"), *answer])
    out += run(guard, caller_says(end + 1, 1.0, "thanks"), until=end + 10)
    assert labels(out) == ["verdict:unanswered_turn"]  # one again, not a wedge


def test_response_rejected_is_unanswered():
    guard, _ = _greeted()
    out = run(
        guard,
        [*caller_says(10.0, 1.0, "hi"), TurnComplete(t=11.6, turn=2, reason="RESPONSE_REJECTED")],
    )
    assert labels(out) == [
        "verdict:unanswered_turn",
        "health:recovering",
        "recovery_start:nudge",
        "SendText",
    ]
    assert out[0].evidence["rule"] == "response_rejected"
    assert out[0].evidence["reason"] == "RESPONSE_REJECTED"


def test_empty_turn_is_unanswered_but_need_more_input_is_not():
    guard, _ = _greeted()
    out = run(
        guard,
        [*caller_says(10.0, 1.0, "so I was"), TurnComplete(t=11.6, turn=2, waiting_for_input=True)],
    )
    assert labels(out) == []
    out = run(guard, [audio(12.5)])
    assert [label(o) for o in out] == ["turn_answered"]


def test_suspect_shortens_the_answer_deadline():
    guard, _ = _greeted()
    run(guard, [Interrupted(t=5.0)], until=6.0)
    assert guard.state == "suspect"
    out = run(guard, [*caller_says(10.0, 1.0, "hello there"), audio(13.2)])
    assert "verdict:wedge" in labels(
        out
    )  # 1.8 s after the VAD end: over the 1.5 s suspect deadline


def test_slow_but_real_answer_is_answered():
    guard, _ = _greeted()
    out = run(guard, [*caller_says(10.0, 1.0, "hello there"), audio(13.9)], until=40.0)
    assert [label(o) for o in out] == ["turn_answered"]
    assert out[0].latency_s == 2.5


def test_resume_is_skipped_without_a_healthy_handle():
    guard = Guard(GuardPolicy(rungs=["resume", "fresh", "fallback"]))
    greeting, _ = model_turn(0.5, 3, 1)
    evs = [e for e in connect() if not isinstance(e, ResumptionUpdate)] + greeting
    out = run(guard, [*evs, *caller_says(10, 1, "one"), *caller_says(20, 1, "two")], until=30)
    reconnect = next(o for o in out if isinstance(o, Reconnect))
    assert reconnect.purpose == "fresh"
    assert "recovery_start:resume" not in labels(out)


def test_recoveries_are_bounded():
    guard = Guard(GuardPolicy(max_recoveries_per_session=1, rungs=["nudge", "fallback"]))
    greeting, _ = model_turn(0.5, 3, 1)
    out = run(
        guard,
        [*connect(), *greeting, *caller_says(10, 1, "one"), *caller_says(20, 1, "two")],
        until=30,
    )
    assert labels(out).count("recovery_start:nudge") == 1
    out = run(
        guard, [audio(30.5), *caller_says(40, 1, "three"), *caller_says(50, 1, "four")], until=60
    )
    assert "recovery_start:nudge" not in labels(out)
    assert "PlayFallback" in labels(out)


def test_guard_outputs_fed_back_are_ignored():
    guard, _ = _greeted()
    own = [
        Verdict(t=5.0, kind="wedge"),
        HealthChanged(t=5.0, state="wedged"),
    ]
    assert run(guard, own, until=10.0) == []
    assert guard.state == "healthy"


# ---------------------------------------------------------------- session lifetime


def test_goaway_mid_answer_rotates_at_the_turn_boundary_with_the_newest_handle():
    guard, _ = _greeted()
    answer, end = model_turn(12.0, 10, 2)
    before = [e for e in answer if e.t < 12.5]
    after = [e for e in answer if e.t >= 12.5]
    out = run(
        guard,
        [
            *caller_says(10.0, 1.0, "hi"),
            *before,
            ResumptionUpdate(t=12.2, handle="h2", resumable=True),
            GoAway(t=12.3, time_left_s=50.0),
        ],
    )
    assert labels(out) == []
    out = run(guard, after)
    assert labels(out) == ["recovery_start:rotate", "Reconnect"]
    assert out[-1] == Reconnect("rotate", handle="h2")
    assert out[0].t == end  # the turnComplete
    out = run(
        guard,
        [
            UpstreamClosed(t=end, code=1000, side="client"),
            UpstreamConnected(t=end + 0.3, attempt=2, purpose="rotate"),
        ],
    )
    assert labels(out) == ["recovery_end:rotate:done"]


def test_goaway_waits_while_not_resumable_then_rotates_past_the_margin():
    guard, _ = _greeted()
    out = run(
        guard,
        [ResumptionUpdate(t=4.0, resumable=False), GoAway(t=5.0, time_left_s=10.0)],
        until=30.0,
    )
    assert labels(out) == []  # resumable=false: no handle may be used
    out = run(guard, [ResumptionUpdate(t=31.0, handle="h3", resumable=True)])
    assert out[-1] == Reconnect("rotate", handle="h3")


def test_goaway_hard_deadline_rotates_even_mid_turn():
    guard, _ = _greeted()
    out = run(guard, [CallerSpeechStarted(t=5.0), GoAway(t=5.0, time_left_s=10.0)])
    assert labels(out) == []
    assert guard.next_deadline() == 10.0  # timeLeft 10 minus the 5 s margin
    out = guard.tick(10.0)
    assert labels(out) == ["recovery_start:rotate", "Reconnect"]


@pytest.mark.parametrize(
    ("code", "reason", "purpose", "handle"),
    [
        (1011, "Internal error", "resume", "h-setup"),
        (1006, "", "resume", "h-setup"),
        (1008, "BidiGenerateContent session not found", "fresh", None),
    ],
)
def test_server_close_reconnects(code, reason, purpose, handle):
    guard, _ = _greeted()
    out = run(guard, [UpstreamClosed(t=5.0, code=code, reason=reason)])
    reconnect = next(o for o in out if isinstance(o, Reconnect))
    assert (reconnect.purpose, reconnect.handle) == (purpose, handle)
    out = run(
        guard,
        [
            UpstreamConnecting(t=5.0, attempt=2, purpose=purpose),
            UpstreamConnected(t=5.4, attempt=2, purpose=purpose),
        ],
    )
    assert labels(out) == [f"recovery_end:{purpose}:done", "health:healthy"]


def test_1008_during_resume_goes_fresh():
    guard, _ = _greeted()
    run(guard, [UpstreamClosed(t=5.0, code=1011)])
    out = run(
        guard,
        [
            UpstreamConnecting(t=5.0, attempt=2, purpose="resume"),
            UpstreamClosed(t=5.3, code=1008, reason="BidiGenerateContent session not found"),
        ],
    )
    assert labels(out) == ["recovery_end:resume:failed", "recovery_start:fresh", "Reconnect"]


def test_close_1007_is_a_config_error_never_a_loop():
    guard, _ = _greeted()
    out = run(guard, [UpstreamClosed(t=5.0, code=1007, reason="API key not valid.")])
    assert labels(out) == ["verdict:config_error", "FailSession", "health:failed"]
    assert isinstance(out[1], FailSession) and "1007" in out[1].reason
    out = run(guard, [UpstreamClosed(t=6.0, code=1011), *caller_says(10, 1, "hi")], until=60)
    assert out == []


def test_1008_on_the_initial_connect_is_a_config_error():
    guard = Guard(GuardPolicy())
    out = run(
        guard,
        [
            UpstreamConnecting(t=0, attempt=1),
            UpstreamClosed(t=0.2, code=1008, reason="models/x is not found"),
        ],
    )
    assert labels(out) == ["verdict:config_error", "FailSession", "health:failed"]


def test_client_close_is_not_a_fault():
    guard, _ = _greeted()
    assert run(guard, [UpstreamClosed(t=5.0, code=1000, side="client")], until=60) == []


def test_session_end_stops_deadlines():
    guard, _ = _greeted()
    run(guard, [*caller_says(10.0, 1.0, "hi"), SessionEnded(t=11.5)])
    assert guard.next_deadline() is None
    assert guard.tick(100.0) == []


def test_policy_rejects_bad_rungs():
    with pytest.raises(ValidationError):
        GuardPolicy(rungs=["nudge", "pray"])
    with pytest.raises(ValidationError):
        GuardPolicy(rungs=["fallback", "nudge"])
    with pytest.raises(ValidationError):
        GuardPolicy(rungs=["nudge", "nudge"])
    assert FlushPlayback() == FlushPlayback()
