"""The talk page in Debian's headless chromium: a fake microphone speaks a shipped clip through the
AudioWorklet, the relay carries it to the emulator, and the page hears and shows the reply."""

from __future__ import annotations

import asyncio
import shutil
import wave
from pathlib import Path

import pytest

from liveguard.audio.clips import clip_text, load_clip

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed"),
]


def write_mic_wav(path: Path, clip: str) -> None:
    """Silence (while the greeting plays), the utterance, then silence for the answer."""
    pcm = load_clip(clip, 16000).pcm
    silence = b"\x00\x00" * 16000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(silence * 4 + pcm + silence * 6)


async def test_page_talks_through_the_microphone_and_hears_the_reply(relay, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    wav = tmp_path / "mic.wav"
    write_mic_wav(wav, "opening_hours")
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    console_errors: list[str] = []
    # a bound of our own: a wedged browser must fail this test, not hold the worker (the
    # timeout plugin's alarm may land on another thread while the loop waits on playwright)
    async with asyncio.timeout(100), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            page = await browser.new_page()
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            await page.goto(relay.base_url + "/?processing=off")
            assert await page.title() == "liveguard — talk"
            await page.click("#start")
            # the reply to the utterance: a model transcript after the caller's words
            await page.wait_for_function(
                """() => {
                    const s = window.liveguard;
                    const i = s.transcripts.findIndex(t => t.role === 'caller');
                    return i >= 0 && s.transcripts.slice(i + 1).some(t => t.role === 'model')
                        && s.events.filter(e => e.type === 'turn_complete').length >= 2;
                }""",
                timeout=40_000,
            )
            state = await page.evaluate("window.liveguard")
            shown = await page.inner_text("#log")
            await page.click("#stop")
        finally:
            await browser.close()
    assert not console_errors, console_errors
    assert state["status"] == "connected" and state["framesSent"] > 100
    caller = " ".join(t["text"] for t in state["transcripts"] if t["role"] == "caller")
    assert clip_text("opening_hours").lower().rstrip("?") in caller.lower()
    seconds_received = state["audioBytesReceived"] / 2 / 24000
    assert seconds_received > 3.0  # greeting and answer, 24 kHz PCM16
    assert state["playedSeconds"] > 0  # the playback worklet really played it
    assert "You:" in shown and "Model:" in shown
