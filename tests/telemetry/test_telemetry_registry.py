"""SessionRegistry: the dashboard's bounded view of live sessions."""

from __future__ import annotations

from liveguard import events as ev
from liveguard.telemetry import SessionRegistry


def test_register_record_unregister_and_incidents():
    reg = SessionRegistry(recent_events=3, clock=lambda: 100.0)
    reg.register("a", transport="twilio")
    hook = reg.callback("a")
    hook(ev.TurnComplete(t=1, turn=1))
    hook(ev.Interrupted(t=2))
    hook(ev.Verdict(t=2.5, kind="phantom_interrupt", turn=2))
    hook(ev.HealthChanged(t=2.5, state="suspect", previous="healthy"))
    hook(ev.Verdict(t=3, kind="real_interrupt"))
    live = reg.get("a")
    assert live.health == "suspect" and live.turns == 1 and live.incidents == 1
    assert len(live.recent) == 3
    snap = reg.snapshot()
    assert snap["live"][0]["session"] == "a" and snap["incidents"][0]["kind"] == "phantom_interrupt"
    reg.unregister("a", "caller hung up")
    snap = reg.snapshot()
    assert snap["live"] == [] and snap["ended"][0]["end_reason"] == "caller hung up"
    assert snap["ended"][0]["health"] == "suspect"


def test_everything_is_bounded():
    reg = SessionRegistry(max_sessions=10, recent_incidents=5, keep_ended=2)
    for i in range(25):
        reg.record(f"s{i}", ev.Verdict(t=0, kind="wedge"))
    assert len(reg) == 10 and reg.dropped_sessions == 15
    assert len(reg.snapshot()["incidents"]) == 5
    for i in range(15, 25):
        reg.unregister(f"s{i}")
    assert len(reg.ended()) == 2 and len(reg) == 0
