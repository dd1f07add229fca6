"""setupComplete that never arrives (Patter#210), through a real GuardedSession: the real SDK
against the emulator over TLS. The connect is bounded by `guard.setup_timeout_s`, reported as the
`setup_timeout` verdict and a server close, and the guard's ladder retries with a fresh connect;
where a setup field is the likely cause, the close reason (the session log) names it."""

from __future__ import annotations

import pytest
from session_helpers import Call, is_, session_for

from liveguard import events as ev
from liveguard.config.models import RECOMMENDED_MODEL
from liveguard.config.settings import Settings
from liveguard.session import SessionFailed
from liveguard.session.config import live_config
from liveguard.session.setup_wait import SETUP_TIMEOUT_REASON, setup_suspects

MODEL_31 = "gemini-3.1-flash-live-preview"


def settings(model: str, **fields) -> Settings:
    guard = {"setup_timeout_s": 1.0, "connect_backoff_s": 0.1}
    return Settings(model=model, guard=guard, **fields)


async def test_a_first_connect_without_setup_complete_is_retried_fresh_and_answers(emulator):
    s = settings("gemini-2.5-flash-native-audio-preview-12-2025")
    events: list[ev.Event] = []
    session = session_for(emulator, "setup-never-completes", s, on_event=[events.append])
    async with session, Call(session) as call:
        await call.wait_for(is_(ev.TurnComplete, turn=1), within=10)  # the greeting, on try 2
        mark = len(call.items)
        await call.say("check_order")
        await call.wait_for(is_(ev.TurnAnswered), after=mark, within=10)
    verdicts = [e for e in events if isinstance(e, ev.Verdict)]
    assert [v.kind for v in verdicts] == ["setup_timeout"]
    assert verdicts[0].evidence["attempt"] == 1 and verdicts[0].evidence["purpose"] == "initial"
    closed = [e for e in events if isinstance(e, ev.UpstreamClosed) and e.side == "server"]
    assert [(c.code, c.reason) for c in closed] == [(1006, SETUP_TIMEOUT_REASON)]
    assert 0.9 <= closed[0].t <= 2.5  # bounded by the setting, not the SDK's or the server's
    started = [e.rung for e in events if isinstance(e, ev.RecoveryStarted)]
    assert started == ["fresh"]
    connected = [e for e in events if isinstance(e, ev.UpstreamConnected)]
    assert [c.purpose for c in connected] == ["fresh"]
    assert session.stats.setup_timeouts == 1 and session.stats.connects == 1
    stats = await emulator.wait_closed_sessions()
    assert [st.setup_complete for st in stats] == [False, True]
    assert stats[0].close_side == "client"  # we closed the stalled attempt


async def test_a_setup_field_that_stalls_every_connect_is_named_and_the_session_fails(
    emulator, caplog
):
    s = settings(MODEL_31, affective_dialog=True)
    events: list[ev.Event] = []
    session = session_for(emulator, "setup-stall-affective", s, on_event=[events.append])
    with pytest.raises(SessionFailed) as failed:
        await session.start()
    assert str(failed.value).startswith(
        "upstream refused the session: 1006 setupComplete timeout; likely cause: "
        "enable_affective_dialog in the setup"
    )
    closed = [e for e in events if isinstance(e, ev.UpstreamClosed)]
    assert len(closed) == 2 and all("enable_affective_dialog" in c.reason for c in closed)
    assert all("likely cause" in c.reason for c in closed)
    assert [v.kind for v in events if isinstance(v, ev.Verdict)] == ["setup_timeout"] * 2
    assert isinstance(events[-1], ev.SessionEnded)
    # two bounded attempts (the ladder's one fresh rung) and a backoff, never an endless wait
    assert events[-1].t < 4.0
    assert "likely cause: enable_affective_dialog" in caplog.text
    assert session.stats.setup_timeouts == 2 and session.stats.connects == 0


async def test_the_same_scenario_without_the_field_connects_at_once(emulator):
    events: list[ev.Event] = []
    session = session_for(emulator, "setup-stall-affective", settings(MODEL_31))
    session.add_event_sink(events.append)
    async with session:
        pass
    assert not [e for e in events if isinstance(e, ev.Verdict)]
    assert session.stats.setup_timeouts == 0 and session.stats.connects == 1


def test_setup_suspects_follow_the_model_table():
    def suspects(model: str, **fields) -> list[str]:
        return setup_suspects(live_config(Settings(model=model, **fields)), model)

    assert suspects(MODEL_31, affective_dialog=True, proactive_audio=True) == [
        "proactivity",
        "enable_affective_dialog",
    ]
    assert suspects(MODEL_31) == []
    assert suspects("gemini-2.5-flash-native-audio-preview-12-2025", affective_dialog=True) == []
    assert suspects(RECOMMENDED_MODEL, affective_dialog=True) == ["enable_affective_dialog"]
    assert suspects("some-future-model", proactive_audio=True) == ["proactivity"]
