"""The browser side of the page tests, run as a child process by `headless.browse` (see there).

`python browser_pages.py PAGE ARGS...` drives Debian's headless chromium through playwright and
prints JSON lines: what it saw, for the test to assert on. Any failure prints `{"error": ...}` and
exits 1.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def say(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def talk(page: Page, url: str) -> dict:
    """The talk page: start the microphone (a WAV file) and wait for the model's reply."""
    page.goto(url)
    title = page.title()
    page.click("#start")
    # the reply to the utterance: a model transcript after the caller's words
    page.wait_for_function(
        """() => {
            const s = window.liveguard;
            const i = s.transcripts.findIndex(t => t.role === 'caller');
            return i >= 0 && s.transcripts.slice(i + 1).some(t => t.role === 'model')
                && s.events.filter(e => e.type === 'turn_complete').length >= 2;
        }""",
        timeout=40_000,
    )
    state = page.evaluate("window.liveguard")
    shown = page.inner_text("#log")
    page.click("#stop")
    return {"title": title, "state": state, "shown": shown}


def reconnect(page: Page, url: str) -> dict:
    """The talk page through a relay-side drop: connected after the greeting (says so, and the
    test drops the call), then back by itself with the same conversation."""
    page.goto(url)
    page.click("#start")
    page.wait_for_function(
        """() => window.liveguard.resume
            && window.liveguard.events.some(e => e.type === 'turn_complete')""",
        timeout=40_000,
    )
    first = page.evaluate("window.liveguard")
    say({"connected": first["session"]})
    page.wait_for_function(
        "() => window.liveguard.resumed && window.liveguard.status === 'connected'",
        timeout=40_000,
    )
    state = page.evaluate("window.liveguard")
    page.click("#stop")
    return {"first": first, "state": state, "shown": page.inner_text("#log")}


SESSION_NAMES = (
    "[...document.querySelectorAll('#sessions tbody td:first-child')].map(td => td.dataset.v)"
)


def report(page: Page, url: str, shot: str) -> dict:
    """The HTML report: its timelines, the injected markup, and the table sorted twice."""
    page.goto(url)
    seen: dict = {
        "timelines": page.locator("svg.timeline").count(),
        "pwned": page.evaluate("window.pwned === undefined ? null : window.pwned"),
        "names": page.evaluate(SESSION_NAMES),
    }
    page.click("#sessions th[data-key='session']")
    seen["sorted"] = page.evaluate(SESSION_NAMES)
    page.click("#sessions th[data-key='session']")
    seen["sorted_again"] = page.evaluate(SESSION_NAMES)
    seen["bug_report"] = page.locator("#bug-report").inner_text()
    page.screenshot(path=shot, full_page=True)
    return seen


def dashboard(page: Page, url: str, shot: str) -> dict:
    """The live dashboard: its first render, then (after the test adds an incident) the next
    poll showing the new one."""
    page.goto(url)
    page.wait_for_selector("#timelines svg.timeline", timeout=10_000)
    say(
        {
            "ready": True,
            "timelines": page.locator("#timelines svg.timeline").count(),
            "rows": page.locator("#live tbody tr").all_inner_texts(),
            "incidents": page.locator("#incidents tbody").inner_text(),
        }
    )
    sys.stdin.readline()  # the test has added an incident
    page.wait_for_function(
        "document.querySelector('#incidents tbody').innerText.includes('config_error')",
        timeout=10_000,
    )
    page.screenshot(path=shot, full_page=True)
    return {"incidents": page.locator("#incidents tbody").inner_text()}


PAGES: dict[str, Callable[..., dict]] = {
    "talk": talk,
    "reconnect": reconnect,
    "report": report,
    "dashboard": dashboard,
}


def main(argv: list[str]) -> int:
    name, args = argv[0], argv[1:]
    extra: list[str] = []
    if name in ("talk", "reconnect"):  # a fake microphone fed from the WAV, audio that plays
        wav, args = args[-1], args[:-1]
        extra = [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop",
            "--autoplay-policy=no-user-gesture-required",
        ]
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=[*ARGS, *extra]
            )
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                if name not in ("talk", "reconnect"):  # the talk page socket may fail as it stops
                    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
                seen = PAGES[name](page, *args)
                say({**seen, "console_errors": errors})
            finally:
                browser.close()
    except Exception:
        say({"error": traceback.format_exc()})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
