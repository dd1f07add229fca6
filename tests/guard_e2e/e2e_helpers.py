"""Run one simulated phone call through its own relay and emulator, and collect what each saw.

Why one relay and one emulator per call: the session log, the emulator's per-connection counters
and the caller's result then belong to that call alone, so several calls can run at once (the
suite stays short) and every assertion still reads one call's evidence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liveguard.caller.script import CallScript
from liveguard.caller.simulated import CallResult, run_call
from liveguard.config.settings import Settings
from liveguard.emulator.server import Emulator, SessionStats
from liveguard.relay.server import Relay


@dataclass
class CallOutcome:
    """One call: the caller's result, the relay's JSONL records, the emulator's sessions."""

    scenario: str
    result: CallResult
    records: list[dict[str, Any]]
    emu: list[SessionStats]
    lines: list[dict[str, Any]] = field(default_factory=list)

    def events(self, *names: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["event"] in names]

    def sequence(self) -> list[str]:
        """The guard's story as short labels, in log order (verdicts, health, rungs, answers)."""
        out = []
        for r in self.records:
            ev = r["event"]
            if ev == "verdict":
                out.append(f"verdict:{r['kind']}")
            elif ev == "health":
                out.append(f"health:{r['state']}")
            elif ev == "recovery_start":
                out.append(f"start:{r['rung']}")
            elif ev == "recovery_end":
                out.append(f"end:{r['rung']}:{r['outcome']}")
            elif ev == "turn_answered":
                out.append("answered")
            elif ev in ("upstream_closed", "upstream_connected", "go_away"):
                out.append(ev)
        return out

    def frames_received_upstream(self) -> int:
        return sum(s.audio_frames_received for s in self.emu)

    def figures(self) -> str:
        turns = [t["end_of_speech_to_first_audio_s"] for t in self.result.turns]
        s = self.result.summary
        return (
            f"[{self.scenario}] end of speech -> model audio per turn: {turns}; "
            f"max caller silence {s['max_silence_s']} s; answered {s['answered']}/{s['turns']}"
        )


def read_records(log_dir: Path) -> list[dict[str, Any]]:
    """Every record of the (single) session log in `log_dir`."""
    paths = sorted(log_dir.glob("*.jsonl"))
    assert len(paths) == 1, f"expected one session log in {log_dir}, found {len(paths)}"
    return [json.loads(line) for line in paths[0].read_text().splitlines() if line.strip()]


async def scenario_call(
    tmp: Path,
    scenario: str,
    script: CallScript | str,
    *,
    max_duration_s: float = 120.0,
    scenario_file: Path | None = None,
    **settings: Any,
) -> CallOutcome:
    """Start an emulator and a relay, place one call picking `scenario`, stop both, collect.

    `scenario_file`: a scenario of the test's own (its `name` must be `scenario`), served as the
    emulator's default, e.g. a built-in fault with shorter parameters."""
    log_dir = tmp / f"logs-{scenario}-{id(script)}"
    lines: list[dict[str, Any]] = []
    async with Emulator(scenario=scenario_file or "healthy") as emu:
        s = Settings.load(None, port=0, log_dir=log_dir, **settings)
        relay = Relay(s, client=emu.client(), emulated=True)
        await relay.start()
        try:
            result = await run_call(
                relay.twilio_url,
                script,
                parameters={"scenario": scenario},
                on_line=lines.append,
                max_duration_s=max_duration_s,
            )
        finally:
            await relay.stop()  # flushes the session log
        stats = await emu.wait_closed_sessions()
    return CallOutcome(scenario, result, read_records(log_dir), stats, lines)


def first_index(seq: list[str], label: str, start: int = 0) -> int:
    """Index of `label` in `seq` at or after `start` (prefix match), or fail with the sequence."""
    for i in range(start, len(seq)):
        if seq[i] == label or seq[i].startswith(label):
            return i
    raise AssertionError(f"{label!r} not found after position {start} in {seq}")
