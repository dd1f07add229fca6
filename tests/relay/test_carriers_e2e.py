"""Issue 16 end to end, per carrier: the simulated caller speaking Telnyx, Plivo, Vonage or Exotel
→ relay (aiohttp, the carrier's route) → GuardedSession → google-genai SDK → emulator (TLS).
Nothing of liveguard is mocked.

Per carrier, three short calls run at once (all twelve together, on one relay and emulator): a
keypad digit then speech (several turns, DTMF forwarded), a barge-in answered by the carrier's
clear, and the `seed-2333` incident recovered by the guard. Some calls use the carrier's other
codecs and rates (Telnyx PCMA, Plivo L16 16 kHz, Vonage 8 kHz, Exotel 16 kHz). The tests read the
caller's results and each session's JSONL log, found by its transport (the carrier's name).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any

import pytest
from relay_helpers import logs_by_session

from liveguard.audio.clips import load_clip
from liveguard.caller.simulated import CallResult, run_call
from liveguard.config.settings import Settings
from liveguard.emulator.server import Emulator
from liveguard.relay.server import Relay

CARRIERS = ("telnyx", "plivo", "vonage", "exotel")
# (script, parameters, rate, codec) per kind of call
CALLS: dict[str, dict[str, tuple[str, dict[str, str], int | None, str]]] = {
    "telnyx": {
        "dtmf": ("dtmf", {}, None, ""),
        "barge": ("barge-in", {}, 8000, "PCMA"),
        "seed": ("quick", {"scenario": "seed-2333"}, None, ""),
    },
    "plivo": {
        "dtmf": ("dtmf", {}, None, ""),
        "barge": ("barge-in", {}, 16000, "l16"),
        "seed": ("quick", {"scenario": "seed-2333"}, None, ""),
    },
    "vonage": {
        "dtmf": ("dtmf", {}, 8000, ""),
        "barge": ("barge-in", {}, None, ""),
        "seed": ("quick", {"scenario": "seed-2333"}, None, ""),
    },
    "exotel": {
        "dtmf": ("dtmf", {}, None, ""),
        "barge": ("barge-in", {}, 16000, ""),
        "seed": ("quick", {"scenario": "seed-2333"}, None, ""),
    },
}


@dataclass
class Outcome:
    results: dict[tuple[str, str], CallResult]
    logs: dict[tuple[str, str], list[dict[str, Any]]]


def _kind(records: list[dict[str, Any]]) -> str:
    names = {r["event"] for r in records}
    if "caller_dtmf" in names:
        return "dtmf"
    if any(r["event"] == "verdict" and r["kind"] == "phantom_interrupt" for r in records):
        return "seed"
    return "barge"


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    log_dir = tmp_path_factory.mktemp("carriers") / "logs"

    async def run_all() -> dict[tuple[str, str], CallResult]:
        async with Emulator(scenario="healthy") as emu:
            relay = Relay(
                Settings.load(None, port=0, log_dir=log_dir), client=emu.client(), emulated=True
            )
            await relay.start()
            base = f"ws://{relay.host}:{relay.port}"
            keys = [(c, k) for c in CARRIERS for k in CALLS[c]]
            try:
                results = await asyncio.gather(
                    *(
                        run_call(
                            f"{base}/{c}/stream",
                            CALLS[c][k][0],
                            parameters=CALLS[c][k][1],
                            rate=CALLS[c][k][2],
                            codec=CALLS[c][k][3],
                            carrier=c,
                            max_duration_s=90,
                        )
                        for c, k in keys
                    )
                )
            finally:
                await relay.stop()  # flushes every log
        return dict(zip(keys, results, strict=True))

    results = asyncio.run(run_all())
    logs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for records in logs_by_session(log_dir).values():
        key = (records[0]["transport"], _kind(records))
        assert key not in logs, f"two sessions look like {key}"
        logs[key] = records
    for (c, k), r in results.items():
        turns = [t["end_of_speech_to_first_audio_s"] for t in r.turns]
        print(f"[{c} {k}] end of speech -> model audio per turn {turns}; summary {r.summary}")
    return Outcome(results, logs)


def assert_clean(records: list[dict[str, Any]], carrier: str) -> None:
    assert records[0]["event"] == "session_start" and records[0]["transport"] == carrier
    assert records[-1]["event"] == "session_end" and records[-1]["reason"] == "caller hung up"
    assert not [r for r in records if r["event"] == "caller_error"]


@pytest.mark.parametrize("carrier", CARRIERS)
def test_several_turns_with_dtmf(outcome: Outcome, carrier: str) -> None:
    r = outcome.results[(carrier, "dtmf")]
    s = r.summary
    assert s["errors"] == [] and not s["closed_by_relay"], s
    assert s["greeting_heard_s"] > 1.0
    (digit, speech) = r.turns
    assert digit["utterance"] == "dtmf:5" and digit["answered"] and digit["heard_s"] > 0.5
    assert speech["utterance"] == "thanks_bye" and speech["answered"] and speech["heard_s"] > 0.5
    assert s["marks_echoed"] > 0 and s["clears"] == 0
    records = outcome.logs[(carrier, "dtmf")]
    assert_clean(records, carrier)
    assert any(r["event"] == "caller_dtmf" and r["digit"] == "5" for r in records)
    assert any(r["event"] == "caller_text" and "pressed 5" in r["text"] for r in records)
    assert any(r["event"] == "playout_mark" for r in records)  # the carrier's marker came back


@pytest.mark.parametrize("carrier", CARRIERS)
def test_barge_in_is_cleared_with_the_carriers_clear(outcome: Outcome, carrier: str) -> None:
    r = outcome.results[(carrier, "barge")]
    (first, barged) = r.turns
    assert barged["kind"] == "barge_in" and barged["barged"] is True
    assert barged["clear_received"] is True and barged["cleared_s"] > 0.1
    assert barged["answered"] is True and r.summary["errors"] == []
    full_reply = min(load_clip(n, 8000).seconds for n in ("ask_order_number", "order_shipped"))
    assert first["heard_s"] < full_reply  # the caller did not hear the interrupted answer out
    records = outcome.logs[(carrier, "barge")]
    assert_clean(records, carrier)
    (cleared,) = [x for x in records if x["event"] == "playout_cleared"]
    assert cleared["unplayed_s"] > 0 and cleared["reason"] == "barge-in"


@pytest.mark.parametrize("carrier", CARRIERS)
def test_guard_recovers_seed_2333(outcome: Outcome, carrier: str) -> None:
    r = outcome.results[(carrier, "seed")]
    (turn,) = r.turns
    print(f"{carrier} seed-2333: answered {turn['end_of_speech_to_first_audio_s']} s after speech")
    assert turn["answered"] and turn["heard_s"] > 0.5 and r.summary["errors"] == []
    records = outcome.logs[(carrier, "seed")]
    assert_clean(records, carrier)
    story = [
        f"{x['event']}:{x.get('kind') or x.get('state') or x.get('rung') or ''}" for x in records
    ]
    order = ["verdict:phantom_interrupt", "health:suspect", "verdict:wedge", "recovery_start:"]
    at = 0
    for label in order:
        at = next(i for i in range(at, len(story)) if story[i].startswith(label))
    ends = [x for x in records if x["event"] == "recovery_end" and x["outcome"] == "answered"]
    assert ends and ends[0]["rung"] in ("nudge", "resume", "fresh"), story
    assert any(x["event"] == "turn_answered" for x in records[at:])


def test_log_names_each_carrier(outcome: Outcome) -> None:
    transports = sorted({key[0] for key in outcome.logs})
    assert transports == sorted(CARRIERS)
    assert len(outcome.logs) == sum(len(v) for v in CALLS.values())


async def test_liveguard_call_cli_speaks_a_carrier(relay) -> None:
    """`liveguard call --carrier vonage --rate 8000` as a process: one JSON line per turn and a
    summary, the relay's log naming the carrier."""
    url = f"ws://{relay.host}:{relay.port}/vonage/stream"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "liveguard",
        "call",
        "--carrier",
        "vonage",
        "--rate",
        "8000",
        "--url",
        url,
        "--script",
        "quick",
        "--max-duration",
        "60",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()
    turn, summary = (json.loads(line) for line in out.decode().splitlines())
    assert turn["answered"] and summary["summary"] and summary["errors"] == []
    await relay.stop()
    (records,) = logs_by_session(relay.settings.log_dir).values()
    assert records[0]["transport"] == "vonage" and records[-1]["reason"] == "caller hung up"
