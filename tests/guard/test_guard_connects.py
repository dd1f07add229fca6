"""Decisions about connecting that the guard makes (not the session's asyncio shell): the backoff
after refused connects, the budget of refusals in a row, and the end of a session that a close
leaves with no rung to reconnect; plus the client-VAD wire decisions in `guard.policy`."""

from __future__ import annotations

import pytest
from guard_helpers import connect as connected_session
from guard_helpers import labels, model_turn, run

from liveguard.events import UpstreamClosed, UpstreamConnected, UpstreamConnecting
from liveguard.guard import Guard, GuardPolicy
from liveguard.guard.actions import FailSession, Reconnect
from liveguard.guard.policy import preroll_from, replay_bracket


def _greeted(**policy: object) -> Guard:
    guard = Guard(GuardPolicy(**policy))
    greeting, _ = model_turn(0.5, 11, 1, "Hello.")
    run(guard, connected_session() + greeting)
    return guard


def _refused(t: float, purpose: str, code: int = 1011, reason: str = "") -> list:
    return [
        UpstreamConnecting(t=t, attempt=2, purpose=purpose),
        UpstreamClosed(t=t + 0.1, code=code, reason=reason),
    ]


def test_a_drop_reconnects_at_once_then_refusals_back_off_doubling():
    guard = _greeted(rungs=["resume", "fresh"], connect_backoff_s=0.25, connect_backoff_max_s=0.4)
    first = next(
        o for o in run(guard, [UpstreamClosed(t=5.0, code=1011)]) if isinstance(o, Reconnect)
    )
    assert (first.purpose, first.delay_s) == ("resume", 0.0)  # a drop is not a refused connect
    out = run(guard, _refused(5.0, "resume"))
    fresh = next(o for o in out if isinstance(o, Reconnect))
    assert (fresh.purpose, fresh.delay_s) == ("fresh", 0.25)
    assert guard.connects.failures_in_row == 1
    # the fresh connect is refused too: the ladder is spent, so the next close starts a new one,
    # whose first reconnect waits twice as long (capped by connect_backoff_max_s)
    out = run(guard, _refused(6.0, "fresh"))
    assert "FailSession" in labels(out)  # no rung left after this close: the session ends
    assert guard.connects.failures_in_row == 2
    assert GuardPolicy(connect_backoff_s=0.25, connect_backoff_max_s=0.4).connect_delay_s(2) == 0.4
    assert GuardPolicy().connect_delay_s(3) == 1.0 and GuardPolicy().connect_delay_s(9) == 2.0


def test_a_successful_connect_resets_the_refusals():
    guard = _greeted(max_connect_failures=2)
    run(guard, [UpstreamClosed(t=5.0, code=1011)])
    out = run(guard, _refused(5.0, "resume"))
    assert next(o for o in out if isinstance(o, Reconnect)).delay_s > 0
    run(guard, [UpstreamConnecting(t=6.0, attempt=3), UpstreamConnected(t=6.2, attempt=3)])
    assert guard.connects.failures_in_row == 0
    out = run(guard, [UpstreamClosed(t=30.0, code=1011)])
    assert next(o for o in out if isinstance(o, Reconnect)).delay_s == 0.0


def test_past_the_budget_of_refusals_the_session_fails_instead_of_reconnecting():
    guard = _greeted(max_connect_failures=1)
    run(guard, [UpstreamClosed(t=5.0, code=1011)])
    out = run(guard, _refused(5.0, "resume"))
    assert not any(isinstance(o, Reconnect) for o in out)
    fail = next(o for o in out if isinstance(o, FailSession))
    assert fail.reason == "upstream unreachable after 1 attempts"
    assert run(guard, [UpstreamClosed(t=9.0, code=1011)], until=60) == []  # nothing more


def test_a_close_that_no_rung_answers_ends_the_session_with_the_close_as_reason():
    # a drop's ladder is resume, fresh, fallback: both reconnects refused, only the prompt is left
    guard = _greeted(connect_backoff_s=0.0)
    run(guard, [UpstreamClosed(t=5.0, code=1011)])
    run(guard, _refused(5.0, "resume"))
    out = run(guard, _refused(6.0, "fresh", 1011, "Internal error"))
    assert labels(out)[-2:] == ["health:failed", "FailSession"]
    assert out[-1] == FailSession(reason="upstream closed 1011 Internal error")
    assert "PlayFallback" in labels(out)  # the caller heard the fallback prompt first
    assert run(guard, [UpstreamClosed(t=9.0, code=1011)], until=60) == []  # nothing more


@pytest.mark.parametrize(
    ("sent", "speech_at", "expected"),
    [
        (["start"], 10.0, 9.7),
        (["end", "start"], 10.0, None),
        ([], 10.0, None),
        (["start"], None, None),
    ],
)
def test_preroll_only_after_the_start_this_speech_opened(sent, speech_at, expected):
    assert preroll_from(sent, speech_at, 0.3) == expected


def test_a_replay_is_bracketed_only_in_client_vad_mode_outside_an_open_activity():
    assert replay_bracket(client_vad=True, activity_open=False)
    assert not replay_bracket(client_vad=True, activity_open=True)
    assert not replay_bracket(client_vad=False, activity_open=False)
