"""The emulator's model follows each profile's tool rules (through the real SDK): a declaration
without `behavior` is NON_BLOCKING on 3.8, where a SILENT result is not spoken about, and
synchronous (BLOCKING) on 2.5 and 3.1, where scheduling does not apply and the model answers."""

from __future__ import annotations

import asyncio

import pytest
from tool_harness import asking_for_an_order

from liveguard import events as ev
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
