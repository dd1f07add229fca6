"""The HTML report and the live dashboard in headless chromium: they render, with no console
errors, and the table sorts; screenshots are taken and checked non-empty."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aiohttp import web
from incident import guarded_recovery_events, incident_events

from headless import CHROMIUM, browse
from liveguard.cli import main
from liveguard.report.dashboard import add_dashboard_routes
from liveguard.telemetry import SessionLog, SessionRegistry

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed"),
]

HOUR = 1_761_991_200.0


async def test_html_report_renders_and_sorts(tmp_path: Path):
    logs = tmp_path / "logs"
    for i, events in enumerate([incident_events("wedged-call"), guarded_recovery_events("ok")]):
        log = SessionLog(logs, events[0].session_id, wall0=HOUR + i)
        for e in events:
            log(e)
        log.close()
    # a transcript that tries to be markup must stay text
    log = SessionLog(logs, "xss", wall0=HOUR + 5)
    from liveguard import events as ev

    log(ev.SessionStarted(t=0, session_id="xss"))
    log(ev.InputTranscript(t=1, text="<script>window.pwned=1</script><img src=x onerror=alert(1)>"))
    log.close()
    html = tmp_path / "report.html"
    assert main(["report", str(logs), "--html", str(html), "--jobs", "1", "--quiet"]) == 0
    shot = tmp_path / "report.png"
    seen = await browse("report", html.as_uri(), str(shot))
    assert seen["timelines"] == 3
    assert seen["pwned"] is None
    assert seen["names"][0] == "wedged-call"  # worst first
    assert seen["sorted"] == sorted(seen["names"]) == ["ok", "wedged-call", "xss"]
    assert seen["sorted_again"] == sorted(seen["names"], reverse=True)
    assert "last_user_tx_age_ms=-1" in seen["bug_report"]
    assert shot.stat().st_size > 10_000
    assert seen["console_errors"] == []


async def test_dashboard_shows_live_sessions_incidents_and_timelines(tmp_path: Path):
    registry = SessionRegistry()
    registry.register("live-wedged", transport="twilio")
    for e in incident_events("live-wedged")[:-2]:
        registry.record("live-wedged", e)
    for e in guarded_recovery_events("done"):
        registry.record("done", e)
    registry.unregister("done", "caller hung up")
    app = web.Application()
    add_dashboard_routes(app, registry)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    first: dict = {}

    def on_line(seen: dict) -> str | None:
        if not seen.get("ready"):
            return None
        first.update(seen)
        registry.record("live-wedged", ev_verdict())  # a new incident, for the next poll
        return "go"

    shot = tmp_path / "dashboard.png"
    try:
        url = f"http://127.0.0.1:{port}/sessions"
        seen = await browse("dashboard", url, str(shot), on_line=on_line)
    finally:
        await runner.cleanup()
    assert first["timelines"] == 2
    assert any("live-wedged" in r and "live" in r for r in first["rows"])
    assert any("done" in r and "ended: caller hung up" in r for r in first["rows"])
    assert "phantom_interrupt" in first["incidents"] and "wedge" in first["incidents"]
    assert "config_error" not in first["incidents"]
    assert "config_error" in seen["incidents"]
    assert shot.stat().st_size > 10_000
    assert seen["console_errors"] == []


def ev_verdict():
    from liveguard import events as ev

    return ev.Verdict(t=60.0, kind="config_error")
