"""MetricsRecorder: counts from events, bounded labels, its own registry."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from liveguard import events as ev
from liveguard.telemetry import DOWN, UP, MetricsRecorder

KEY = "AIza" + "SyZ9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J"


def samples(rec: MetricsRecorder) -> dict[tuple[str, tuple], float]:
    text = rec.exposition()[0].decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_events_become_counts_and_histograms():
    rec = MetricsRecorder()
    for e in [
        ev.SessionStarted(t=0, session_id="a", transport="twilio"),
        ev.SessionStarted(t=0, session_id="b", transport="browser"),
        ev.TurnAnswered(t=1, turn=1, latency_s=0.8),
        ev.TurnAnswered(t=2, turn=2, latency_s=2.2),
        ev.Interrupted(t=3),
        ev.Verdict(t=3.5, kind="phantom_interrupt"),
        ev.Verdict(t=6, kind="unanswered_turn"),
        ev.Verdict(t=6, kind="wedge"),
        ev.RecoveryStarted(t=6, rung="nudge"),
        ev.RecoveryFinished(t=7, rung="nudge", outcome="answered"),
        ev.UpstreamClosed(t=8, code=1011, reason="internal", side="server"),
        ev.UpstreamClosed(t=9, code=4999, reason=KEY, side="weird"),
        ev.SessionEnded(t=10),
    ]:
        rec.observe(e)
    rec.observe_forwarding(UP, 0.00004)
    rec.observe_forwarding(DOWN, 0.002)
    s = samples(rec)
    assert s[("liveguard_sessions_active", ())] == 1
    assert s[("liveguard_sessions_total", (("transport", "twilio"),))] == 1
    assert s[("liveguard_turns_total", (("outcome", "answered"),))] == 2
    assert s[("liveguard_turns_total", (("outcome", "unanswered"),))] == 1
    assert s[("liveguard_answer_latency_seconds_count", ())] == 2
    assert s[("liveguard_answer_latency_seconds_bucket", (("le", "1.0"),))] == 1
    assert s[("liveguard_phantom_interrupts_total", ())] == 1
    assert s[("liveguard_wedges_total", ())] == 1
    assert s[("liveguard_recoveries_total", (("outcome", "answered"), ("rung", "nudge")))] == 1
    assert s[("liveguard_upstream_closes_total", (("code", "1011"), ("side", "server")))] == 1
    assert s[("liveguard_upstream_closes_total", (("code", "other"), ("side", "other")))] == 1
    assert s[("liveguard_frame_forwarding_seconds_count", (("direction", "up"),))] == 1
    assert KEY not in rec.exposition()[0].decode()


def test_bad_direction_is_a_clear_error_and_registries_are_separate():
    a, b = MetricsRecorder(), MetricsRecorder()
    a.observe(ev.Verdict(t=0, kind="wedge"))
    assert samples(b)[("liveguard_wedges_total", ())] == 0
    with pytest.raises(ValueError, match="direction"):
        a.observe_forwarding("sideways", 0.1)


def test_non_events_are_ignored():
    rec = MetricsRecorder()
    rec.observe("not an event")
    rec(ev.OperatorAlert(t=0, reason="fallback"))
    assert samples(rec)[("liveguard_operator_alerts_total", ())] == 1
