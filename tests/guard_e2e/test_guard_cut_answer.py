"""The guard, sans I/O: a server close that cuts an answer short makes the caller's utterance
await an answer again (replayed on the new connection, verified by model audio), while a close
after the answer's generation completed, or between turns, stays a plain reconnect."""

from __future__ import annotations

from liveguard import events as ev
from liveguard.guard import Guard
from liveguard.guard.actions import Reconnect


def _answered_call(guard: Guard) -> list:
    out: list = []
    for e in (
        ev.UpstreamConnecting(t=0.0, attempt=1),
        ev.UpstreamConnected(t=0.1, attempt=1),
        ev.ResumptionUpdate(t=0.2, handle="h1", resumable=True, turn=1),
        ev.CallerSpeechStarted(t=1.0),
        ev.CallerSpeechEnded(t=3.0, duration_s=2.0),
        ev.InputTranscript(t=3.1, text="check my order"),
        ev.ModelAudio(t=3.6, bytes=1920, gemini_audio_chunks=1, turn=1),
        ev.OutputTranscript(t=3.6, text="Sure, what is"),
    ):
        out += guard.feed(e)
    return out


def test_close_mid_answer_replays_the_utterance_and_waits_for_audio() -> None:
    guard = Guard()
    assert any(isinstance(x, ev.TurnAnswered) for x in _answered_call(guard))
    out = guard.feed(ev.UpstreamClosed(t=3.7, code=1011, reason="Internal error encountered."))
    (rc,) = [x for x in out if isinstance(x, Reconnect)]
    assert rc.purpose == "resume" and rc.handle == "h1"
    assert rc.replay_from_t == 1.0 and rc.replay_text == "check my order"
    out = guard.feed(ev.UpstreamConnecting(t=3.71, attempt=2, purpose="resume"))
    out += guard.feed(ev.UpstreamConnected(t=3.75, attempt=2, purpose="resume", resumed=True))
    (fin,) = [x for x in out if isinstance(x, ev.RecoveryFinished)]
    assert fin.rung == "resume" and fin.outcome == "done"
    # the replayed utterance awaits an answer under the normal deadline
    assert guard.turns.awaiting is not None
    assert guard.next_deadline() == 3.75 + guard.policy.answer_deadline_s
    out = guard.feed(ev.ModelAudio(t=4.9, bytes=1920, gemini_audio_chunks=2, turn=1))
    assert any(isinstance(x, ev.TurnAnswered) for x in out)
    assert not any(isinstance(x, ev.Verdict) for x in out)


def test_cut_answer_never_given_again_is_an_unanswered_turn() -> None:
    guard = Guard()
    _answered_call(guard)
    guard.feed(ev.UpstreamClosed(t=3.7, code=1011, reason="Internal error encountered."))
    guard.feed(ev.UpstreamConnecting(t=3.71, attempt=2, purpose="resume"))
    guard.feed(ev.UpstreamConnected(t=3.75, attempt=2, purpose="resume", resumed=True))
    out = guard.tick(10.0)
    (verdict,) = [x for x in out if isinstance(x, ev.Verdict)]
    assert verdict.kind == "unanswered_turn"


def test_close_after_generation_complete_is_a_plain_reconnect() -> None:
    guard = Guard()
    _answered_call(guard)
    guard.feed(ev.GenerationComplete(t=4.0, turn=1))
    out = guard.feed(ev.UpstreamClosed(t=4.5, code=1011, reason="Internal error encountered."))
    (rc,) = [x for x in out if isinstance(x, Reconnect)]
    assert rc.replay_from_t is None and rc.replay_text is None
    out = guard.feed(ev.UpstreamConnecting(t=4.51, attempt=2, purpose="resume"))
    out += guard.feed(ev.UpstreamConnected(t=4.55, attempt=2, purpose="resume", resumed=True))
    (fin,) = [x for x in out if isinstance(x, ev.RecoveryFinished)]
    assert fin.outcome == "done"
