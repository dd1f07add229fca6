"""The README's second embedding example ("With a tool"), extracted and run as written against the
emulator, whose model calls lookup_order when the caller gives the order number."""

from __future__ import annotations

import asyncio

from readme_blocks import code_lines, example_source, point_at_emulator

from liveguard.audio.clips import clip_text

MARKER = "<!-- tool-example -->"


def test_the_tool_example_is_short():
    lines = code_lines(example_source(MARKER))
    assert len(lines) <= 16, lines


async def test_readme_tool_example_runs_against_the_emulator(emulator, monkeypatch, capsys):
    point_at_emulator(emulator, monkeypatch)
    namespace: dict = {"__name__": "tool_example"}
    exec(compile(example_source(MARKER), "README-tool-example", "exec"), namespace)
    said = await asyncio.wait_for(namespace["ask"](clip_text("order_number")), timeout=30)
    assert said.split() == clip_text("order_shipped").split()
    assert capsys.readouterr().out.startswith("ran lookup_order ok in ")
    stats = emulator.sessions[-1].model_stats
    assert (stats.tool_calls_sent, stats.tool_responses) == (1, 1)
