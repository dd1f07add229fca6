"""The README's second embedding example ("With a tool"), extracted and run as written against the
emulator, whose model calls lookup_order when the caller gives the order number."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from liveguard.audio.clips import clip_text

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- tool-example -->"
FENCE = re.compile(r"```python\n(.*?)```", re.S)


def example_source() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert MARKER in readme, "README.md lost its tool example marker"
    match = FENCE.search(readme[readme.index(MARKER) :])
    assert match, "no fenced python block for the tool example"
    return match.group(1)


def test_the_tool_example_is_short():
    lines = [
        ln
        for ln in example_source().splitlines()
        if ln.strip() and not ln.strip().startswith(("#", '"""', "import", "from"))
    ]
    assert len(lines) <= 16, lines


async def test_readme_tool_example_runs_against_the_emulator(emulator, monkeypatch, capsys):
    monkeypatch.setenv("GEMINI_API_KEY", emulator.api_key)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("SSL_CERT_FILE", emulator.ca_file)
    monkeypatch.setenv("LIVEGUARD_MODEL", "gemini-2.5-flash-native-audio-preview-12-2025")
    namespace: dict = {"__name__": "tool_example"}
    exec(compile(example_source(), "README-tool-example", "exec"), namespace)
    said = await asyncio.wait_for(namespace["ask"](clip_text("order_number")), timeout=30)
    assert said.split() == clip_text("order_shipped").split()
    assert capsys.readouterr().out.startswith("ran lookup_order ok in ")
    stats = emulator.sessions[-1].model_stats
    assert (stats.tool_calls_sent, stats.tool_responses) == (1, 1)
