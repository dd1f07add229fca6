"""The emulator's model follows each profile's tool rules (through the real SDK): a declaration
without `behavior` is NON_BLOCKING on 3.8, where a SILENT result is not spoken about, and
synchronous (BLOCKING) on 2.5 and 3.1, where scheduling does not apply and the model answers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from tool_harness import asking_for_an_order

from liveguard import events as ev
from liveguard.audio.clips import clip_text
from liveguard.config.settings import Settings
from liveguard.emulator.server import Emulator

SILENT = [{"function": "liveguard.tools.examples:lookup_order", "scheduling": "SILENT"}]


@pytest.mark.parametrize(
    ("model", "speaks"),
    [
        ("gemini-3.8-live", False),
        ("gemini-3.1-flash-live-preview", True),
        ("gemini-2.5-flash-native-audio-preview-12-2025", True),
    ],
)
async def test_a_silent_result_by_profile(model: str, speaks: bool) -> None:
    settings = Settings(model=model, tools=SILENT, greeting=None)
    log: list[ev.Event] = []
    async with Emulator(scenario="tool-call") as emu:
        async with asking_for_an_order(emu, settings, log) as session:
            async with asyncio.timeout(10):
                async for item in session:  # until the turn after the response completes
                    if isinstance(item, ev.TurnComplete) and any(
                        isinstance(e, ev.ToolResponse) for e in log
                    ):
                        break
            await asyncio.sleep(0.5)  # nothing more follows a silent result
        stats = emu.sessions[-1].model_stats
    (response,) = [e for e in log if isinstance(e, ev.ToolResponse)]
    spoke = [e for e in log if isinstance(e, ev.ModelAudio) and e.t > response.t]
    assert bool(spoke) is speaks
    assert stats.tool_calls_sent == 1 and stats.tool_responses == 1
    assert not [v for v in log if isinstance(v, ev.Verdict) and v.evidence.get("tool")]


def _ack_scenario(tmp_path: Path) -> Path:
    """tool-call, with the model saying "still here" while a NON_BLOCKING call runs."""
    tool = {
        "function": "lookup_order",
        "args": {"order_number": "456"},
        "on_utterance": "order_number",
        "reply": "order_shipped",
        "ack": "still_here",
    }
    path = tmp_path / "tool-ack.yaml"
    body = {"name": "tool-ack", "description": "ack", "seed": 5, "model": {"tool_call": tool}}
    path.write_text(yaml.safe_dump(body))
    return path


async def _result_while_speaking(tmp_path: Path, scheduling: str) -> tuple[list, Any]:
    """Ask about the order on 3.8; the result arrives while the acknowledgement is spoken.
    Returns the log (until the result is spoken and its turn complete) and the model's stats."""
    tools = [{"function": "liveguard.tools.examples:lookup_order", "scheduling": scheduling}]
    settings = Settings(model="gemini-3.8-live", tools=tools, greeting=None)
    result = clip_text("order_shipped").split()[0]
    log: list[ev.Event] = []
    async with Emulator(scenario=_ack_scenario(tmp_path)) as emu:
        async with asking_for_an_order(emu, settings, log) as session:
            async with asyncio.timeout(15):
                async for item in session:
                    spoke = any(
                        isinstance(e, ev.OutputTranscript) and result in e.text for e in log
                    )
                    if isinstance(item, ev.TurnComplete) and spoke:
                        break
        stats = emu.sessions[-1].model_stats
    return log, stats


def _after(log: list, t: float, cls: type) -> list:
    return [e for e in log if isinstance(e, cls) and e.t >= t]


async def test_a_when_idle_result_waits_for_the_models_turn_to_end(tmp_path: Path) -> None:
    log, stats = await _result_while_speaking(tmp_path, "WHEN_IDLE")
    (response,) = [e for e in log if isinstance(e, ev.ToolResponse)]
    result = clip_text("order_shipped").split()[0]
    said = [e for e in _after(log, response.t, ev.OutputTranscript) if result in e.text]
    ack_done = _after(log, response.t, ev.TurnComplete)[0]
    # the model was still speaking when the result arrived, and finished that turn first
    assert [a for a in _after(log, response.t, ev.ModelAudio) if a.t < ack_done.t]
    assert said and ack_done.t <= said[0].t
    assert not _after(log, response.t, ev.Interrupted) and stats.tool_interrupts == 0


async def test_an_interrupt_result_cuts_the_model_off_and_is_spoken_at_once(
    tmp_path: Path,
) -> None:
    log, stats = await _result_while_speaking(tmp_path, "INTERRUPT")
    (response,) = [e for e in log if isinstance(e, ev.ToolResponse)]
    result = clip_text("order_shipped").split()[0]
    (cut,) = _after(log, response.t, ev.Interrupted)
    said = [e for e in _after(log, response.t, ev.OutputTranscript) if result in e.text]
    assert said and cut.t <= said[0].t and stats.tool_interrupts == 1
    # the model was speaking, and was cut off as the result arrived, not at its turn's end
    assert [a for a in log if isinstance(a, ev.ModelAudio) and a.t < cut.t]
    assert cut.t - response.t < 1.0
