"""The README's "Embed it" example, extracted and run as written against the emulator.

The block is the first fenced python block after README.md's `<!-- embed-example -->` marker.
Only the SDK's own environment variables point it at the emulator.
"""

from __future__ import annotations

import asyncio

from readme_blocks import code_lines, example_source, point_at_emulator

from liveguard.audio.clips import load_clip

MARKER = "<!-- embed-example -->"


def test_the_example_is_about_ten_lines():
    lines = code_lines(example_source(MARKER))
    assert len(lines) <= 16, lines


async def test_readme_example_runs_against_the_emulator(emulator, monkeypatch):
    point_at_emulator(emulator, monkeypatch)
    namespace: dict = {"__name__": "embed_example"}
    exec(compile(example_source(MARKER), "README-embed-example", "exec"), namespace)
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
