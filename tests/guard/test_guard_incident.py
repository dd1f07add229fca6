"""The incident (googleapis/python-genai#2333) fed to the guard: phantom -> suspect -> wedge ->
recovery ladder, with the poisoned-handle rule and the fallback when every rung fails."""

from __future__ import annotations

from guard_helpers import GREETING, UTTERANCE, incident_prefix, label, labels, run

from liveguard.events import (
    ModelAudio,
    TurnComplete,
    UpstreamClosed,
    UpstreamConnected,
    UpstreamConnecting,
    Verdict,
)
from liveguard.guard import Guard, GuardPolicy
from liveguard.guard.actions import PlayFallback, Reconnect, SendText


def _wedged() -> tuple[Guard, list]:
    guard = Guard(GuardPolicy())
    out = run(guard, [*incident_prefix(), TurnComplete(t=15.8, turn=3, gemini_audio_chunks=11)])
    return guard, out


def _reconnected(guard: Guard, t: float, purpose: str) -> list:
    return run(
        guard,
        [
            UpstreamClosed(t=t, code=1000, side="client"),
            UpstreamConnecting(t=t, attempt=2, purpose=purpose),
            UpstreamConnected(t=t + 0.4, attempt=2, purpose=purpose),
        ],
    )


def test_phantom_then_suspect_then_wedge_then_nudge():
    guard, out = _wedged()
    assert labels(out) == [
        "verdict:phantom_interrupt",
        "health:suspect",
        "verdict:unanswered_turn",
        "verdict:wedge",
        "health:wedged",
        "health:recovering",
        "recovery_start:nudge",
        "SendText",
    ]
    phantom = out[0]
    assert phantom.t == 2.5  # judged once the grace for late evidence ran out
    assert phantom.evidence["last_user_tx"] == ""
    assert phantom.evidence["last_user_tx_age_ms"] == -1
    assert phantom.evidence["gemini_audio_chunks"] == 11
    assert phantom.evidence["last_speech_evidence"] is None
    unanswered, wedge = out[2], out[3]
    assert unanswered.evidence["rule"] == "empty_turn"
    assert unanswered.evidence["gemini_audio_chunks"] == 11
    assert unanswered.evidence["turn_audio_chunks"] == 0
    assert unanswered.evidence["last_user_tx"] == UTTERANCE
    assert wedge.evidence["rule"] == "unanswered_while_suspect"
    assert wedge.evidence["suspect_t"] == 2.0
    assert out[-1] == SendText(text=UTTERANCE)
    assert guard.state == "recovering" and guard.rung == "nudge"


def test_turn_complete_after_phantom_is_not_unanswered():
    guard = Guard(GuardPolicy())
    prefix = incident_prefix()
    upto = [e for e in prefix if e.t <= 12.0]
    out = run(guard, upto, until=12.0)
    assert [o.kind for o in out if isinstance(o, Verdict)] == ["phantom_interrupt"]


def test_wedge_by_answer_deadline_without_turn_complete():
    guard = Guard(GuardPolicy())
    out = run(guard, incident_prefix(), until=20.0)
    unanswered = next(o for o in out if label(o) == "verdict:unanswered_turn")
    assert unanswered.t == 16.5  # VAD end 15.0 + suspect deadline 1.5
    assert unanswered.evidence["rule"] == "answer_deadline"
    assert unanswered.evidence["waited_s"] == 1.5
    assert "SendText" in labels(out)


def test_nudge_answered_recovers():
    guard, _ = _wedged()
    out = run(guard, [ModelAudio(t=16.6, bytes=9600, gemini_audio_chunks=12, turn=3)])
    assert labels(out) == ["recovery_end:nudge:answered", "health:healthy"]
    answered = next(o for o in out if label(o) == "turn_answered")
    assert answered.latency_s == 1.6  # caller end of speech (15.0) to first model audio
    assert guard.state == "healthy" and not guard.recovering


def test_nudge_fails_then_resume_uses_pre_suspect_handle_then_fresh_answers():
    guard, _ = _wedged()
    assert guard.next_deadline() == 15.8 + guard.policy.nudge_deadline_s
    out = guard.tick(17.0)
    assert labels(out) == ["recovery_end:nudge:timeout", "recovery_start:resume", "Reconnect"]
    resume = out[-1]
    assert resume == Reconnect(
        "resume", handle="h-healthy", replay_from_t=13.0, replay_text=UTTERANCE
    ), "must resume from the newest handle taken before the phantom, not the poisoned ones"

    out = _reconnected(guard, 17.0, "resume")
    assert labels(out) == []
    # the rung's deadline runs once connected
    assert guard.next_deadline() == 17.4 + guard.policy.resume_deadline_s
    out = run(guard, [TurnComplete(t=18.5, turn=4)], until=19.9)
    assert labels(out) == ["recovery_end:resume:timeout", "recovery_start:fresh", "Reconnect"]
    fresh = out[-1]
    assert fresh.purpose == "fresh" and fresh.handle is None
    assert fresh.seed_turns == (("model", GREETING),)
    assert (fresh.replay_from_t, fresh.replay_text) == (13.0, UTTERANCE)

    out = _reconnected(guard, 19.9, "fresh")
    out += run(guard, [ModelAudio(t=21.0, bytes=9600, gemini_audio_chunks=12, turn=4)])
    assert labels(out) == ["recovery_end:fresh:answered", "health:healthy"]
    assert guard.state == "healthy"


def test_every_rung_failing_ends_in_fallback_never_silence():
    guard, _ = _wedged()
    out = guard.tick(17.0)
    out += _reconnected(guard, 17.0, "resume")
    out += guard.tick(19.9)
    out += _reconnected(guard, 19.9, "fresh")
    out += guard.tick(30.0)
    assert labels(out)[-6:] == [
        "recovery_end:fresh:timeout",
        "recovery_start:fallback",
        "PlayFallback",
        "operator_alert",
        "recovery_end:fallback:done",
        "health:failed",
    ]
    assert any(isinstance(o, PlayFallback) for o in out)
    assert guard.next_deadline() is None


def test_same_events_same_outputs():
    def once() -> list:
        guard = Guard(GuardPolicy())
        out = run(guard, [*incident_prefix(), TurnComplete(t=15.8, turn=3)], until=17.0)
        out += _reconnected(guard, 17.0, "resume")
        out += guard.tick(40.0)
        return out

    first, second = once(), once()
    assert first == second
    assert len(first) > 10


def test_transcript_only_log_still_detects_the_wedge():
    """Another relay's log has no local VAD: input transcription marks the caller's turn."""
    prefix = [
        e for e in incident_prefix() if e.name not in ("caller_speech_start", "caller_speech_end")
    ]
    guard = Guard(GuardPolicy())
    out = run(guard, prefix, until=20.0)
    unanswered = next(o for o in out if label(o) == "verdict:unanswered_turn")
    assert unanswered.evidence["utterance_source"] == "transcript"
    assert unanswered.t == round(13.0 + 1.6 * 0.9 + 1.5, 6)  # last fragment + suspect deadline
    assert "SendText" in labels(out)
