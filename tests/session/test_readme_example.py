"""The README's "Embed it" example, extracted and run as written against the emulator.

The block is the first fenced python block after README.md's `<!-- embed-example -->` marker.
Only the SDK's own environment variables point it at the emulator.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from liveguard.audio.clips import load_clip

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- embed-example -->"
FENCE = re.compile(r"```python\n(.*?)```", re.S)


def example_source() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert MARKER in readme, "README.md lost its embed example marker"
    text = readme[readme.index(MARKER) :]
    match = FENCE.search(text)
    assert match, "no fenced python block for the embed example"
    return match.group(1)


def test_the_example_is_about_ten_lines():
    lines = [
        ln
        for ln in example_source().splitlines()
        if ln.strip() and not ln.strip().startswith(("#", '"""', "import", "from"))
    ]
    assert len(lines) <= 16, lines


async def test_readme_example_runs_against_the_emulator(emulator, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", emulator.api_key)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("SSL_CERT_FILE", emulator.ca_file)
    monkeypatch.setenv("LIVEGUARD_MODEL", "gemini-2.5-flash-native-audio-preview-12-2025")
    namespace: dict = {"__name__": "embed_example"}
    exec(compile(example_source(), "README-embed-example", "exec"), namespace)
    bridge = namespace["bridge"]

    frame = 320  # 20 ms at 8 kHz
    speech = load_clip("check_order", 8000).pcm
    speech += b"\0" * (-len(speech) % frame)
    script = b"\0" * frame * 100 + speech + b"\0" * frame * 150  # 2 s, the utterance, 3 s

    heard: list[tuple[float, int]] = []  # (time, bytes) of model audio played
    cleared: list[float] = []
    spoken_end: list[float] = []
    loop = asyncio.get_running_loop()

    async def caller_frames():
        start = loop.time()
        for n, i in enumerate(range(0, len(script), frame)):
            if i == 100 * frame + len(speech):
                spoken_end.append(loop.time())
            yield script[i : i + frame]
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - loop.time()))

    async def play(pcm: bytes, rate: int) -> None:
        assert rate == 24000
        heard.append((loop.time(), len(pcm)))

    async def clear() -> None:
        cleared.append(loop.time())

    await asyncio.wait_for(bridge(caller_frames(), play, clear), timeout=30)
    greeting = sum(n for t, n in heard if t < spoken_end[0])
    answer = sum(n for t, n in heard if t > spoken_end[0])
    assert greeting > 0  # the model spoke first
    assert answer > 0  # and answered the caller
    assert len(emulator.sessions) == 1
