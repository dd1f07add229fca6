"""Issue 5's "Done when", end to end: the simulated phone caller (`liveguard call` logic, Twilio
protocol, real-time μ-law) → relay (aiohttp) → GuardedSession (guard, local VAD, telemetry) →
google-genai SDK → emulator (TLS) running a fault scenario. Nothing of liveguard is mocked.

Every call runs at once in one module fixture (each with its own relay and emulator, so logs and
counters belong to one call); the tests then read the caller's result, the session's JSONL log and
the emulator's per-connection counters. Timing figures are printed, never asserted tightly: the
real ones are in bench/bench_soak.py.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from e2e_helpers import CallOutcome, first_index, scenario_call

from liveguard.audio.clips import clip_text, load_clip

SANITY_SILENCE_S = 20.0  # only a broken recovery leaves a caller this long in silence

CALLS = {
    "seed-2333": ("seed-2333", "three-turns", {}),
    "poisoned-handle": ("poisoned-handle", "three-turns", {}),
    "goaway": ("goaway-mid-answer", "three-turns", {}),
    "drop-1011": ("drop-1011", "patient-three-turns", {}),
    "resume-1008": ("resume-not-found", "patient-three-turns", {}),
    "slow-pongs": ("slow-pongs", "three-turns", {"ping_interval_s": 1.0, "ping_timeout_s": 10.0}),
    "client-vad": ("healthy", "three-turns", {"vad": {"mode": "client"}}),
}


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CallOutcome]:
    tmp = tmp_path_factory.mktemp("guard-e2e")

    async def run_all() -> dict[str, CallOutcome]:
        outcomes = await asyncio.gather(
            *(scenario_call(tmp / key, sc, script, **s) for key, (sc, script, s) in CALLS.items())
        )
        return dict(zip(CALLS, outcomes, strict=True))

    out = asyncio.run(run_all())
    for outcome in out.values():
        print(outcome.figures())
    return out


def assert_all_answered(o: CallOutcome) -> None:
    s = o.result.summary
    assert s["turns"] == 3 and s["answered"] == 3, (o.result.turns, o.sequence())
    assert s["unanswered"] == 0 and s["errors"] == [] and not s["closed_by_relay"]
    assert s["max_silence_s"] < SANITY_SILENCE_S
    assert all(t["heard_s"] > 0.5 for t in o.result.turns), o.result.turns
    assert o.records[0]["event"] == "session_start" and o.records[-1]["event"] == "session_end"
    assert o.records[-1]["reason"] == "caller hung up"


def test_seed_2333_first_utterance_after_phantom_is_answered(calls) -> None:
    o = calls["seed-2333"]
    assert_all_answered(o)
    first = o.result.turns[0]
    print(
        f"seed-2333: first utterance after the phantom answered "
        f"{first['end_of_speech_to_first_audio_s']} s after its end; "
        f"max caller silence {o.result.summary['max_silence_s']} s (targets 4 s / 6 s)"
    )
    assert first["answered"] and first["end_of_speech_to_first_audio_s"] is not None
    seq = o.sequence()
    i = first_index(seq, "verdict:phantom_interrupt")
    i = first_index(seq, "health:suspect", i)
    i = first_index(seq, "verdict:wedge", i)
    i = first_index(seq, "start:", i)
    i = first_index(seq, "answered", i)
    ends = [r for r in o.events("recovery_end") if r["outcome"] == "answered"]
    assert ends and ends[0]["rung"] in ("nudge", "resume", "fresh")
    # the phantom carried the incident's signature, and the verdict says why
    (phantom,) = [r for r in o.events("verdict") if r["kind"] == "phantom_interrupt"]
    assert phantom["evidence"]["last_user_tx"] == ""
    assert phantom["evidence"]["last_user_tx_age_ms"] == -1
    assert phantom["evidence"]["gemini_audio_chunks"] == 11
    # the emulator: one phantom; the first connection wedged, a later one answered
    assert sum(s.model_stats.phantom_interrupts for s in o.emu) == 1
    assert o.emu[0].model_stats.wedged_turns >= 1
    assert o.emu[-1].model_stats.audio_chunks_sent > 0


def test_poisoned_handle_resume_stays_wedged_then_fresh_answers(calls) -> None:
    o = calls["poisoned-handle"]
    assert_all_answered(o)
    seq = o.sequence()
    i = first_index(seq, "verdict:wedge")
    i = first_index(seq, "start:resume", i)
    i = first_index(seq, "end:resume:timeout", i)  # the resumed session was still wedged
    i = first_index(seq, "start:fresh", i)
    i = first_index(seq, "end:fresh:answered", i)
    connected = o.events("upstream_connected")
    assert [c["purpose"] for c in connected] == ["initial", "resume", "fresh"]
    assert connected[1]["resumed"] is True and connected[2]["resumed"] is False
    resumed_emu = o.emu[1]
    assert resumed_emu.model_stats.wedged_turns >= 1  # the emulator kept it wedged
    assert resumed_emu.model_stats.audio_chunks_sent == 0
    print(f"poisoned-handle: {o.figures()}")


def test_goaway_mid_answer_rotates_at_the_boundary_and_loses_no_caller_audio(calls) -> None:
    o = calls["goaway"]
    assert_all_answered(o)
    recs = o.records
    goaways = [i for i, r in enumerate(recs) if r["event"] == "go_away"]
    assert goaways
    mid_answer = 0
    for gi in goaways:
        before = [r for r in recs[:gi] if r["event"] in ("model_audio", "turn_complete")]
        if not (before and before[-1]["event"] == "model_audio"):
            continue  # this goAway did not arrive mid-answer
        mid_answer += 1
        after = recs[gi:]
        tc = next(i for i, r in enumerate(after) if r["event"] == "turn_complete")
        rot = next(i for i, r in enumerate(after) if r["event"] == "recovery_start")
        assert after[rot]["rung"] == "rotate"
        assert tc < rot, "rotation must wait for the turn boundary"
        assert not any(r["event"] == "upstream_closed" for r in after[:tc])
    assert mid_answer >= 1, "the scenario's goAway lands mid-greeting"
    # the interrupted-by-nothing answer was heard in full (the greeting, 2.07 s)
    assert o.result.summary["greeting_heard_s"] >= load_clip("greeting", 8000).seconds - 0.05
    rotations = o.events("recovery_end")
    assert rotations and all(r["rung"] == "rotate" and r["outcome"] == "done" for r in rotations)
    assert not o.events("verdict")
    assert len(o.emu) == len(rotations) + 1 >= 2
    # every caller frame reached the emulator exactly once, across all connections
    assert o.frames_received_upstream() == o.result.summary["frames_sent"]


def test_1011_mid_answer_resumes_and_the_cut_answer_is_given_again(calls) -> None:
    o = calls["drop-1011"]
    assert_all_answered(o)
    assert o.emu[0].close_code == 1011
    seq = o.sequence()
    i = first_index(seq, "upstream_closed")
    i = first_index(seq, "start:resume", i)
    i = first_index(seq, "end:resume:done", i)
    i = first_index(seq, "answered", i)  # the replayed utterance, answered on the new connection
    assert [c["resumed"] for c in o.events("upstream_connected")] == [False, True]
    # the drop came 3 chunks into the first answer; the caller still heard a whole answer
    assert o.result.turns[0]["heard_s"] >= 1.0, o.result.turns[0]
    assert not o.events("verdict")


def test_1008_on_resume_falls_back_to_a_fresh_session(calls) -> None:
    o = calls["resume-1008"]
    assert_all_answered(o)
    closes = [(s.close_code, s.close_reason) for s in o.emu]
    assert (1008, "BidiGenerateContent session not found") in closes
    seq = o.sequence()
    i = first_index(seq, "start:resume")
    i = first_index(seq, "end:resume:failed", i)
    i = first_index(seq, "start:fresh", i)
    i = first_index(seq, "end:fresh:done", i)
    i = first_index(seq, "answered", i)
    assert all(t["heard_s"] >= 1.0 for t in o.result.turns), o.result.turns
    assert not o.events("verdict")


def test_slow_pongs_never_drop_a_healthy_session(calls) -> None:
    o = calls["slow-pongs"]
    assert_all_answered(o)
    (emu,) = o.emu  # one connection for the whole call
    assert emu.pings_received >= 3 and emu.pongs_delayed >= 3
    assert emu.close_side == "client"
    assert len(o.events("upstream_connecting")) == 1
    assert not o.events("verdict", "recovery_start")


def test_client_vad_mode_signals_activity_and_keeps_transcripts(calls) -> None:
    o = calls["client-vad"]
    assert_all_answered(o)
    assert o.records[0]["vad_mode"] == "client"
    (emu,) = o.emu
    m = emu.model_stats
    assert m.activity_starts == m.activity_ends >= 3  # one per caller utterance, all closed
    assert m.audio_frames_ignored > 0  # the silence outside activities: server VAD is off
    assert m.interrupts_sent == 0
    sent = [r["kind"] for r in o.events("activity_signal")]
    assert sent.count("start") == sent.count("end") >= 3
    heard = words("".join(r["text"] for r in o.events("input_transcript")))
    assert words(clip_text("check_order")) <= heard
    assert not o.events("interrupted", "verdict", "recovery_start")


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))
