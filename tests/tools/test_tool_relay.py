"""The relay runs tools for every call with no extra code: on its embedded emulator the demo's
order lookup is on by default, and a phone call that gives the order number gets the looked-up
answer (`liveguard call --script order-lookup`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liveguard.audio.clips import clip_text, load_clip
from liveguard.caller.simulated import run_call
from liveguard.config.settings import Settings
from liveguard.relay.server import Relay


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(name, raising=False)


def records(log_dir: Path) -> list[dict]:
    out: list[dict] = []
    for path in sorted(log_dir.glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


async def test_the_demo_relay_looks_the_order_up(no_credentials: None, tmp_path: Path) -> None:
    settings = Settings.load(None, port=0, log_dir=tmp_path / "logs")
    relay = Relay(settings)
    await relay.start()
    try:
        assert relay.emulator is not None
        assert [e.tool_name for e in relay.ctx.settings.tools] == ["lookup_order"]
        call = await run_call(relay.twilio_url, "order-lookup", max_duration_s=60)
    finally:
        await relay.stop()
    (turn,) = call.turns
    assert turn["answered"] is True
    assert turn["heard_s"] > 0.8 * load_clip("order_shipped", 8000).seconds
    log = records(tmp_path / "logs")
    by = {name: [r for r in log if r["event"] == name] for name in {r["event"] for r in log}}
    (started,) = by["tool_call_started"]
    assert started["tool"] == "lookup_order" and started["args"] == {"order_number": "456"}
    (finished,) = by["tool_call_finished"]
    assert finished["outcome"] == "ok" and finished["call_id"] == started["call_id"]
    assert [r["ids"] for r in by["tool_response"]] == [[started["call_id"]]]
    spoken = " ".join(r["text"] for r in by["output_transcript"])
    assert all(word in spoken for word in clip_text("order_shipped").split())


async def test_tools_set_to_none_keeps_the_demo_tool_off(no_credentials: None) -> None:
    relay = Relay(Settings.load(None, port=0, tools=[]))
    await relay.start()
    try:
        assert relay.ctx.settings.tools == []
    finally:
        await relay.stop()
