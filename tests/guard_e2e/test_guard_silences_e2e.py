"""Issue 13's "Done when", end to end, for each of today's faults: the simulated phone caller
(Twilio protocol, real-time μ-law, playout simulated, inaudible frames counted as silence) →
relay → GuardedSession (guard, local VAD, telemetry) → google-genai SDK → emulator (TLS) running
the fault on a model profile where it was reported. Nothing of liveguard is mocked.

For every fault the caller hears an (audible) answer to every utterance, and the longest caller
silence (`max_silence_s`: end of speech to the first audible audio, or a gap inside an answer) is
at most 6 s; during a background phase it is bounded by the background budget + 3 s, and the
guard takes no recovery action inside the budget. The calls run at once (one relay and emulator
each); short scripts and short fault parameters keep the module well under a minute.
"""

from __future__ import annotations

import asyncio

import pytest
from e2e_helpers import CallOutcome, scenario_call

from liveguard.caller.script import parse_script

MAX_SILENCE_S = 6.0
BUDGET_S = 5.0  # background budget for the background calls (their phases are shorter or endless)
M25 = "gemini-2.5-flash-native-audio-preview-12-2025"
M31 = "gemini-3.1-flash-live-preview"
M38 = "gemini-3.8-live"
M38X = "gemini-3.8-live-extended-thinking"

TWO_TURNS = parse_script(
    {
        "name": "two-turns",
        "steps": [
            {"wait_answer": 10},
            {"say": "check_order"},
            {"wait_answer": {"timeout": 15, "quiet": 1.5}},
            {"say": "opening_hours"},
            {"wait_answer": {"timeout": 15, "quiet": 1.5}},
        ],
    }
)
#: a caller who waits through background work (quiet longer than the budget) before going on
PATIENT = parse_script(
    {
        "name": "two-turns-patient",
        "steps": [
            {"wait_answer": 10},
            {"say": "check_order"},
            {"wait_answer": {"timeout": 20, "quiet": BUDGET_S + 1.0}},
            {"say": "opening_hours"},
            {"wait_answer": {"timeout": 15, "quiet": 1.5}},
        ],
    }
)
BARGE_IN = parse_script(
    {
        "name": "say-then-barge-in",
        "steps": [
            {"wait_answer": 10},
            {"say": "check_order"},
            {"barge_in": "still_there", "after": 0.4},
            {"wait_answer": {"timeout": 15, "quiet": 1.5}},
        ],
    }
)

BACKGROUND_SHORT = """
name: background-short
description: background-phase with a 3 s phase (the budget is 5 s); 3.8 extended thinking.
seed: 2407
faults:
  background_phase:
    from_turn: 2
    seconds: 3.0
"""
DEADLINE_SHORT = """
name: deadline-1011-short
description: deadline-1011 at second 9 of the connection instead of minute 58.
seed: 2411
faults:
  close:
    code: 1011
    reason: Deadline expired
    at_s: 9
"""
RESUME_REJECTED = """
name: resume-rejected-after-rejections
description: |
  RESPONSE_REJECTED from user turn 2 (a nudge cannot help, the guard resumes), and a resume while
  the previous connection is still open is closed with 1011: liveguard closes first, so it is not.
seed: 2410
faults:
  rejected_run:
    from_turn: 2
    turns: 27
    reason: RESPONSE_REJECTED
  resume_rejected:
    code: 1011
"""

#: key -> (scenario, model, script, settings, own scenario yaml or None)
CALLS = {
    "silent-stall": ("silent-stall", M31, TWO_TURNS, {}, None),
    "inaudible-answers": ("inaudible-answers", M25, TWO_TURNS, {}, None),
    "response-rejected-run": ("response-rejected-run", M25, TWO_TURNS, {}, None),
    "cut-answer": ("cut-answer", M31, TWO_TURNS, {}, None),
    "freeze-after-barge-in": ("freeze-after-barge-in", M31, BARGE_IN, {}, None),
    "endless-in-progress": ("endless-in-progress", M38X, PATIENT, {}, None),
    "background-phase": ("background-short", M38X, PATIENT, {}, BACKGROUND_SHORT),
    "setup-never-completes": ("setup-never-completes", M31, TWO_TURNS, {}, None),
    "resume-rejected-1011": (
        "resume-rejected-after-rejections",
        M38,
        TWO_TURNS,
        {},
        RESUME_REJECTED,
    ),
    "deadline-1011": ("deadline-1011-short", M38, TWO_TURNS, {}, DEADLINE_SHORT),
}
BACKGROUND = {"background-phase", "endless-in-progress"}


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CallOutcome]:
    tmp = tmp_path_factory.mktemp("silences-e2e")

    files = {}
    for key, (scenario, _, _, _, yaml) in CALLS.items():
        if yaml is not None:
            files[key] = tmp / f"{scenario}.yaml"
            files[key].write_text(yaml)

    async def run_all() -> dict[str, CallOutcome]:
        runs = []
        for key, (scenario, model, script, extra, _) in CALLS.items():
            settings = {"model": model, **extra}
            if key in BACKGROUND:
                settings["guard"] = {"background_budget_s": BUDGET_S}
            runs.append(
                scenario_call(
                    tmp / key,
                    scenario,
                    script,
                    scenario_file=files.get(key),
                    max_duration_s=60,
                    **settings,
                )
            )
        outcomes = await asyncio.gather(*runs)
        return dict(zip(CALLS, outcomes, strict=True))

    out = asyncio.run(run_all())
    for key, outcome in out.items():
        print(key, outcome.figures(), outcome.sequence())
    return out


def assert_every_utterance_answered(o: CallOutcome, bound_s: float) -> None:
    s = o.result.summary
    assert s["turns"] == 2 and s["answered"] == 2, (o.result.turns, o.sequence())
    assert s["errors"] == [] and not s["closed_by_relay"], s
    turns = o.result.turns
    barged = [t["kind"] == "barge_in" for t in turns[1:]] + [False]
    # every answer was heard at length (but the one the caller talked over)
    assert all(t["heard_s"] > 0.5 for t, b in zip(turns, barged, strict=True) if not b), turns
    assert s["max_silence_s"] <= bound_s, (o.result.turns, o.sequence())
    assert o.records[-1]["event"] == "session_end" and o.records[-1]["reason"] == "caller hung up"


def verdicts(o: CallOutcome) -> list[str]:
    return [r["kind"] for r in o.events("verdict")]


def test_a_single_silent_stall_is_nudged_at_once(calls) -> None:
    o = calls["silent-stall"]
    assert_every_utterance_answered(o, MAX_SILENCE_S)
    assert verdicts(o) == ["unanswered_turn"]
    (v,) = o.events("verdict")
    assert v["evidence"]["rule"] == "empty_turn" and v["evidence"]["unanswered_in_row"] == 1
    ends = o.events("recovery_end")
    assert [(e["rung"], e["outcome"]) for e in ends] == [("nudge", "answered")]
    assert sum(s.model_stats.empty_turns for s in o.emu if s.model_stats) == 1


def test_inaudible_answers_are_unanswered_turns_and_the_caller_hears_a_real_one(calls) -> None:
    o = calls["inaudible-answers"]
    assert_every_utterance_answered(o, MAX_SILENCE_S)
    assert o.result.summary["inaudible_frames"] > 0  # the caller was played near-silence
    rules = {r["evidence"]["rule"] for r in o.events("verdict") if r["kind"] == "unanswered_turn"}
    assert "inaudible_answer" in rules, o.sequence()
    assert o.events("recovery_start")
    # both utterances answered, each by audible audio (the inaudible one only after recovery)
    answered = o.events("turn_answered")
    assert len(answered) == 2 and answered[0]["latency_s"] > 3.0, answered


def test_a_response_rejected_run_is_recovered(calls) -> None:
    o = calls["response-rejected-run"]
    assert_every_utterance_answered(o, MAX_SILENCE_S)
    rules = {r["evidence"]["rule"] for r in o.events("verdict")}
    assert "response_rejected" in rules, o.sequence()
    assert any(e["outcome"] in ("answered", "done") for e in o.events("recovery_end"))


def test_an_answer_cut_mid_sentence_is_reported(calls) -> None:
    o = calls["cut-answer"]
    assert_every_utterance_answered(o, MAX_SILENCE_S)
    assert "cut_answer" in verdicts(o), o.sequence()
    (cut,) = [r for r in o.events("verdict") if r["kind"] == "cut_answer"]
    assert cut["evidence"]["rule"] == "unfinished_sentence"


def test_a_freeze_after_barge_in_is_recovered(calls) -> None:
    o = calls["freeze-after-barge-in"]
    assert_every_utterance_answered(o, MAX_SILENCE_S)
    assert o.result.turns[1]["kind"] == "barge_in" and o.result.turns[1]["barged"]
    rules = [r["evidence"].get("rule") for r in o.events("verdict")]
    assert "barge_in_freeze" in rules, o.sequence()
    assert any(e["outcome"] == "answered" for e in o.events("recovery_end")), o.sequence()


def background_actions(o: CallOutcome) -> list[str]:
    """Recovery actions (rungs, reconnects, nudged text) while background work was in budget."""
    out, inside = [], False
    for r in o.records:
        if r["event"] == "background":
            inside = r["phase"] == "start"
        elif inside and r["event"] in ("recovery_start", "upstream_connecting", "caller_text"):
            out.append(r["event"])
    return out


def silence_after_in_progress(o: CallOutcome) -> float:
    """Seconds from the IN_PROGRESS turnComplete to the next audible model audio, from the
    session log (the caller cannot tell a finished answer from work in progress by ear)."""
    start = next(r for r in o.records if r["event"] == "background")
    heard = next(
        r
        for r in o.records
        if r["event"] == "model_audio" and r["t"] > start["t"] and r.get("level", -1) >= 100
    )
    return heard["t"] - start["t"]


def test_a_background_phase_inside_the_budget_is_left_alone(calls) -> None:
    o = calls["background-phase"]
    assert_every_utterance_answered(o, BUDGET_S + 3.0)
    phases = [r["phase"] for r in o.events("background")]
    assert phases == ["start", "end"], o.sequence()
    assert background_actions(o) == []
    assert not o.events("verdict") and not o.events("recovery_start"), o.sequence()
    assert len({s.session_id for s in o.emu}) == 1
    assert o.result.summary["max_silence_s"] >= 2.5  # the caller did sit through the work
    assert 2.5 <= silence_after_in_progress(o) <= BUDGET_S + 3.0


def test_endless_background_work_is_a_stall_past_the_budget(calls) -> None:
    o = calls["endless-in-progress"]
    assert_every_utterance_answered(o, BUDGET_S + 3.0)
    phases = [r["phase"] for r in o.events("background")]
    assert phases[:2] == ["start", "over_budget"], o.sequence()
    assert "background_stall" in verdicts(o)
    (stall,) = [r for r in o.events("verdict") if r["kind"] == "background_stall"]
    assert stall["evidence"]["silent_s"] >= BUDGET_S
    # nothing was done before the budget ran out
    first_action = next(r for r in o.records if r["event"] == "recovery_start")
    start = next(r for r in o.records if r["event"] == "background")
    assert first_action["t"] - start["t"] >= BUDGET_S - 0.05
    # and the request the work was for is answered by a rung (it is replayed), in budget + 3 s
    assert any(e["outcome"] == "answered" for e in o.events("recovery_end")), o.sequence()
    assert "start:fallback" not in o.sequence()
    assert silence_after_in_progress(o) <= BUDGET_S + 3.0


def test_a_setup_that_never_completes_is_retried(calls) -> None:
    o = calls["setup-never-completes"]
    assert_every_utterance_answered(o, MAX_SILENCE_S)
    assert verdicts(o) == ["setup_timeout"]
    closed = o.events("upstream_closed")
    assert closed[0]["reason"].startswith("setupComplete timeout"), closed
    assert [s.setup_complete for s in o.emu] == [False, True]


def test_a_resume_is_never_sent_while_the_old_socket_is_open(calls) -> None:
    o = calls["resume-rejected-1011"]
    assert_every_utterance_answered(o, MAX_SILENCE_S)
    rungs = [r["rung"] for r in o.events("recovery_start")]
    assert "resume" in rungs, o.sequence()
    assert not [c for c in o.events("upstream_closed") if c["code"] == 1011], o.sequence()
    resumed = [r for r in o.events("upstream_connected") if r["purpose"] == "resume"]
    assert resumed


def test_a_deadline_expired_close_resumes(calls) -> None:
    o = calls["deadline-1011"]
    assert_every_utterance_answered(o, MAX_SILENCE_S)
    closes = [c for c in o.events("upstream_closed") if c["side"] == "server"]
    assert [(c["code"], c["reason"]) for c in closes] == [(1011, "Deadline expired")]
    assert [r["purpose"] for r in o.events("upstream_connected")][-1] == "resume"
