"""Healthy calls never trigger the guard: a real five-minute conversation through the relay.

Why real time: the guard's deadlines, the local VAD and the caller's playout all run on wall-clock
time, and the point is that long pauses and barge-ins stay quiet over minutes. The emulator could
be driven faster (it reads audio time), but the relay cannot without changing what a deadline
means, so this test runs the full five minutes and is marked slow (`./scripts/test` still runs it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_helpers import scenario_call


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_five_minute_healthy_conversation_triggers_nothing(tmp_path: Path) -> None:
    o = await scenario_call(tmp_path, "healthy", "five-minutes", max_duration_s=400.0)
    print(o.figures())
    s = o.result.summary
    assert s["duration_s"] >= 300.0
    assert s["turns"] == 9 and s["answered"] == 9 and s["unanswered"] == 0, o.result.turns
    assert s["errors"] == [] and not s["closed_by_relay"]
    barges = [t for t in o.result.turns if t["kind"] == "barge_in"]
    assert len(barges) == 2 and all(t["barged"] and t["clear_received"] for t in barges)
    # zero verdicts beyond the two real barge-ins, zero reconnects, health never moved
    kinds = [r["kind"] for r in o.events("verdict")]
    assert kinds == ["real_interrupt", "real_interrupt"], kinds
    assert len(o.events("upstream_connecting")) == 1 and len(o.emu) == 1
    assert not o.events("health", "recovery_start", "operator_alert")
    assert [r["side"] for r in o.events("upstream_closed")] == ["client"]  # the hang-up only
    assert o.emu[0].model_stats.interrupts_sent == 2
