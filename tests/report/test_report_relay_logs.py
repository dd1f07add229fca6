"""The report on logs written by real relay runs: simulated phone calls through the relay (real
aiohttp, GuardedSession, google-genai SDK) to the emulator's healthy, seed-2333 and
poisoned-handle scenarios. The numbers are checked against what each scenario did."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from liveguard.caller.simulated import run_call
from liveguard.cli import main
from liveguard.config.settings import Settings
from liveguard.relay.server import Relay
from liveguard.report.cli import build_report

SCENARIOS = ("healthy", "seed-2333", "poisoned-handle")


@pytest.fixture
async def relay_logs(emulator, tmp_path):
    settings = Settings.load(None, port=0, log_dir=tmp_path / "logs")
    relay = Relay(settings, client=emulator.client(), emulated=True)
    await relay.start()
    calls = [
        run_call(relay.twilio_url, "quick", parameters={"scenario": name}, max_duration_s=60)
        for name in SCENARIOS
    ]
    try:
        results = await asyncio.gather(*calls)
        async with aiohttp.ClientSession() as http:
            async with http.get(relay.base_url + "/sessions.json") as resp:
                dashboard = await resp.json()
    finally:
        await relay.stop()  # flushes every log
    return tmp_path / "logs", dict(zip(SCENARIOS, results, strict=True)), dashboard


async def test_report_numbers_match_what_the_scenarios_did(relay_logs, tmp_path, capsys):
    log_dir, calls, dashboard = relay_logs
    # the relay's live dashboard saw the same calls
    assert len(dashboard["live"]) + len(dashboard["ended"]) == 3
    kinds = [i["kind"] for i in dashboard["incidents"]]
    assert kinds.count("phantom_interrupt") == 2 and "wedge" in kinds
    assert all("<svg" in t["svg"] for t in dashboard["timelines"])
    result = build_report([log_dir], window_s=3600, jobs=1)
    assert result.stats.bad_lines == 0
    assert len(result.summaries) == 3
    healthy = [s for s in result.summaries if s.phantom_interrupts == 0]
    faulty = [s for s in result.summaries if s.phantom_interrupts]
    assert len(healthy) == 1 and len(faulty) == 2
    h = healthy[0]
    assert h.outcome == "healthy" and not h.derived
    assert (h.unanswered_turns, h.wedges, sum(h.recoveries.values())) == (0, 0, 0)
    assert h.caller_turns == h.answered_turns == calls["healthy"].summary["answered"] == 1
    for s in faulty:
        # the incident's signature, judged phantom, then a wedge the guard recovered
        assert s.phantom_signature == 1 and s.phantom_recovered == 1 and s.phantom_wedged == 0
        assert s.wedges >= 1 and s.wedges_recovered == s.wedges and s.outcome == "recovered"
        assert s.answered_turns >= 1 and s.max_silence_s < 10
    poisoned = [s for s in faulty if ("fresh", "answered") in s.recoveries]
    seed = [s for s in faulty if ("resume", "answered") in s.recoveries]
    assert len(poisoned) == 1 and len(seed) == 1
    assert calls["seed-2333"].summary["answered"] == 1
    assert calls["poisoned-handle"].summary["answered"] == 1
    # the command prints the same numbers, and a bug report for a recovered session
    bug = tmp_path / "bug.md"
    assert main(["report", str(log_dir), "--bug-report", str(bug), "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 session(s), 3 caller turn(s), 3 answered" in out
    assert 'Phantom interrupts: 2 (2 interrupt(s) with last_user_tx=""' in out
    assert "2 recovered, 0 wedged" in out
    text = bug.read_text()
    assert 'server_content.interrupted=True with last_user_tx=""' in text
    assert "liveguard verdict: phantom_interrupt" in text
