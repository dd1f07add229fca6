"""The HTML report and the live dashboard in headless chromium: they render, with no console
errors, and the table sorts; screenshots are taken and checked non-empty."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from incident import guarded_recovery_events, incident_events
from playwright.async_api import async_playwright

from liveguard.cli import main
from liveguard.report.dashboard import add_dashboard_routes
from liveguard.telemetry import SessionLog, SessionRegistry

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOUR = 1_761_991_200.0


async def open_page(pw, url: str):
    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    await page.goto(url)
    return browser, page, errors


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
    async with async_playwright() as pw:
        browser, page, errors = await open_page(pw, html.as_uri())
        try:
            assert await page.locator("svg.timeline").count() == 3
            assert await page.evaluate("window.pwned") is None
            js = (
                "[...document.querySelectorAll('#sessions tbody td:first-child')]"
                ".map(td => td.dataset.v)"
            )
            assert (await page.evaluate(js))[0] == "wedged-call"  # worst first
            await page.click("#sessions th[data-key='session']")
            names = await page.evaluate(js)
            assert names == sorted(names) == ["ok", "wedged-call", "xss"]
            await page.click("#sessions th[data-key='session']")
            assert await page.evaluate(js) == sorted(names, reverse=True)
            text = await page.locator("#bug-report").inner_text()
            assert "last_user_tx_age_ms=-1" in text
            shot = tmp_path / "report.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            assert errors == []
        finally:
            await browser.close()


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
    try:
        async with async_playwright() as pw:
            browser, page, errors = await open_page(pw, f"http://127.0.0.1:{port}/sessions")
            try:
                await page.wait_for_selector("#timelines svg.timeline", timeout=10_000)
                assert await page.locator("#timelines svg.timeline").count() == 2
                rows = await page.locator("#live tbody tr").all_inner_texts()
                assert any("live-wedged" in r and "live" in r for r in rows)
                assert any("done" in r and "ended: caller hung up" in r for r in rows)
                incidents = await page.locator("#incidents tbody").inner_text()
                assert "phantom_interrupt" in incidents and "wedge" in incidents
                # a new incident shows up on the next poll
                registry.record("live-wedged", ev_verdict())
                await page.wait_for_function(
                    "document.querySelector('#incidents tbody').innerText.includes('config_error')",
                    timeout=10_000,
                )
                shot = tmp_path / "dashboard.png"
                await page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                assert errors == []
            finally:
                await browser.close()
    finally:
        await runner.cleanup()


def ev_verdict():
    from liveguard import events as ev

    return ev.Verdict(t=60.0, kind="config_error")
