"""Issue 13's silences end to end: the simulated phone caller (Twilio protocol, real-time μ-law) →
relay → GuardedSession (guard, local VAD, telemetry) → google-genai SDK → emulator (TLS) running
one of today's faults on the default (3.8 live) profile. Nothing of liveguard is mocked.

The simulated caller counts any model audio as heard, so whether a turn was answered audibly is
read from the relay's log (`turn_answered` is given for audible audio only). Timing figures are
printed; the caller's longest silence is asserted against a sanity bound only (bench/bench_soak.py
measures it properly).
"""

from __future__ import annotations

import asyncio

import pytest
from e2e_helpers import CallOutcome, first_index, scenario_call

SANITY_SILENCE_S = 20.0
BUDGET_S = 5.0  # a short background budget, so the endless IN_PROGRESS call stays short

CALLS = {
    "silent-stall": ("silent-stall", "three-turns", {}),
    "inaudible": ("inaudible-answers", "three-turns", {}),
    "background": ("background-phase", "three-turns", {}),
    "endless": ("endless-in-progress", "three-turns", {"guard": {"background_budget_s": BUDGET_S}}),
    "rejected": ("response-rejected-run", "three-turns", {}),
    "freeze": ("freeze-after-barge-in", "barge-in", {}),
    "cut": ("cut-answer", "three-turns", {}),
}


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CallOutcome]:
    tmp = tmp_path_factory.mktemp("guard-e2e-silences")

    async def run_all() -> dict[str, CallOutcome]:
        outcomes = await asyncio.gather(
            *(scenario_call(tmp / key, sc, script, **s) for key, (sc, script, s) in CALLS.items())
        )
        return dict(zip(CALLS, outcomes, strict=True))

    out = asyncio.run(run_all())
    for outcome in out.values():
        print(outcome.figures(), outcome.sequence())
    return out


def verdicts(o: CallOutcome, kind: str) -> list[dict]:
    return [r for r in o.events("verdict") if r["kind"] == kind]


def assert_every_turn_heard(o: CallOutcome, turns: int = 3) -> None:
    s = o.result.summary
    assert s["turns"] == turns and s["errors"] == [] and not s["closed_by_relay"], o.sequence()
    assert s["max_silence_s"] < SANITY_SILENCE_S
    assert len(o.events("turn_answered")) >= turns, o.sequence()  # audible answers only
    assert o.records[-1]["event"] == "session_end"


def test_a_single_silent_stall_is_nudged_at_once_and_answered(calls) -> None:
    o = calls["silent-stall"]
    assert_every_turn_heard(o)
    seq = o.sequence()
    (stall,) = verdicts(o, "unanswered_turn")
    assert stall["evidence"]["rule"] in ("empty_turn", "answer_deadline"), stall
    i = first_index(seq, "verdict:unanswered_turn")
    assert seq[i + 1 : i + 3] == ["health:recovering", "start:nudge"], seq
    first_index(seq, "end:nudge:answered", i)
    assert not verdicts(o, "wedge")


def test_inaudible_answers_are_unanswered_turns_with_their_level_and_recovered(calls) -> None:
    o = calls["inaudible"]
    assert_every_turn_heard(o)
    quiet = [
        v for v in verdicts(o, "unanswered_turn") if v["evidence"]["rule"] == "inaudible_answer"
    ]
    assert quiet, o.sequence()
    ev = quiet[0]["evidence"]
    assert 15 <= ev["level_mean"] <= 21 and ev["inaudible_chunks"] > 0, ev
    levels = [r["level"] for r in o.events("model_audio")]
    assert min(levels) < 100 <= max(levels)  # both kinds of audio reached the relay
    assert any(r["outcome"] == "answered" for r in o.events("recovery_end")), o.sequence()


def test_background_work_within_the_budget_gets_no_recovery(calls) -> None:
    o = calls["background"]
    assert_every_turn_heard(o)
    phases = [r["phase"] for r in o.events("background")]
    assert phases[:2] == ["start", "end"], phases
    assert not o.events("recovery_start") and not o.events("verdict"), o.sequence()


def test_an_endless_in_progress_is_a_stall_past_the_budget_and_recovers(calls) -> None:
    o = calls["endless"]
    assert_every_turn_heard(o)
    (stall,) = verdicts(o, "background_stall")
    assert stall["evidence"]["budget_s"] == BUDGET_S and stall["evidence"]["silent_s"] >= BUDGET_S
    assert "over_budget" in [r["phase"] for r in o.events("background")]
    seq = o.sequence()
    i = first_index(seq, "verdict:background_stall")
    first_index(seq, "start:", i)
    assert any(r["outcome"] == "answered" for r in o.events("recovery_end")), seq


def test_response_rejected_turns_start_recovery(calls) -> None:
    o = calls["rejected"]
    assert o.result.summary["errors"] == [] and not o.result.summary["closed_by_relay"]
    rejected = [
        v for v in verdicts(o, "unanswered_turn") if v["evidence"]["rule"] == "response_rejected"
    ]
    assert rejected, o.sequence()
    assert o.events("recovery_start"), o.sequence()


def test_a_freeze_after_a_barge_in_is_detected_and_recovered(calls) -> None:
    o = calls["freeze"]
    s = o.result.summary
    assert s["errors"] == [] and not s["closed_by_relay"] and s["max_silence_s"] < SANITY_SILENCE_S
    frozen = [
        v for v in verdicts(o, "unanswered_turn") if v["evidence"]["rule"] == "barge_in_freeze"
    ]
    assert frozen, o.sequence()
    assert any(r["outcome"] == "answered" for r in o.events("recovery_end")), o.sequence()


def test_an_answer_cut_mid_sentence_is_reported(calls) -> None:
    o = calls["cut"]
    assert_every_turn_heard(o)
    (cut,) = verdicts(o, "cut_answer")
    ev = cut["evidence"]
    assert ev["rule"] == "unfinished_sentence" and ev["last_chunk_level"] >= ev["cut_tail_level"]
    assert ev["transcript_tail"] and ev["transcript_tail"][-1] not in ".!?"
    assert not o.events("recovery_start")  # reported only, by default
