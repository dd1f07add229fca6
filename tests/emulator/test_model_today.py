"""The sans-I/O model in fast time: profile rules and today's fault decisions.

Faster and finer than the SDK tests (test_profiles_sdk.py, test_today_faults_sdk.py): runs decided
once per conversation, budgets per process, resumes, polite hold-back, determinism.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from model_harness import Harness, content, greet, realtime, speech_pcm

from liveguard.emulator.model import CloseConnection
from liveguard.emulator.profiles import (
    PROFILES,
    bare_model_name,
    is_known_model,
    profile_for,
    setup_refusal,
)
from liveguard.emulator.resumption import ResumptionStore

M38 = "models/gemini-3.8-live"
M25 = "models/gemini-2.5-flash-native-audio-preview-12-2025"


def turn_summary(h: Harness, since: int = 0) -> list[tuple[bool, str | None, str | None]]:
    """(had audio, turnCompleteReason, interactionStatus) per turn."""
    out = []
    for turn in h.turns(since):
        end = turn[-1].content
        out.append(
            (
                any(s.is_audio for s in turn),
                end.get("turnCompleteReason"),
                end.get("interactionStatus"),
            )
        )
    return out


def caller_turns(h: Harness, *names: str) -> None:
    for name in names:
        h.say(name)
        h.run(6.0)


# ---------------------------------------------------------------- catalogue and setup rules


def test_catalogue_per_platform():
    assert profile_for("models/gemini-3.8-live") == "3.8-live"
    assert profile_for("publishers/google/models/gemini-3.8-live") == "3.8-live"
    assert profile_for("projects/p/locations/l/publishers/google/models/gemini-3.8-live") == (
        "3.8-live"
    )
    assert not is_known_model("models/gemini-live-2.5-flash-native-audio")
    assert not is_known_model("publishers/google/models/gemini-3.1-flash-live-preview")
    assert not is_known_model("publishers/google/models/gemini-3.8-live-extended-thinking")
    assert not is_known_model("gemini-2.5-flash-native-audio-preview-09-2025")
    ga = "publishers/google/models/gemini-live-2.5-flash-native-audio"
    assert is_known_model(f"projects/p/locations/europe-west4/{ga}")
    assert not is_known_model(f"projects/p/locations/global/{ga}")  # regional only
    assert is_known_model("projects/p/locations/global/publishers/google/models/gemini-3.8-live")
    assert bare_model_name("projects/p/locations/l/publishers/google/models/x") == "x"


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_setup_refusal_reasons_fit_a_close_frame(name):
    profile = PROFILES[name]
    setups = [
        {"generation_config": {"thinking_config": {"thinking_budget": 0}}},
        {"proactivity": {"proactive_audio": False}},
        {"generation_config": {"enable_affective_dialog": True}},
    ]
    reasons = [setup_refusal(profile, s) for s in setups]
    if name.startswith("3.8"):
        assert all(r and len(r.encode()) <= 123 for r in reasons), reasons
    else:
        assert reasons == [None, None, None]
    assert setup_refusal(profile, {"proactivity": {"proactive_audio": True}}) is None


def test_refused_setup_closes_before_setup_complete():
    h = Harness.of("healthy")
    got = h.connect(model=M38, proactivity={"proactive_audio": False})
    assert len(got) == 1 and isinstance(got[0].out, CloseConnection)
    assert got[0].out.code == 1007 and "proactiveAudio" in got[0].out.reason
    assert h.session.next_deadline() is None


# ---------------------------------------------------------------- 3.8 rules in fast time


@pytest.mark.parametrize(("model", "answered"), [(M38, False), (M25, True)])
def test_audio_stream_end_without_trailing_audio(model, answered):
    h = Harness.of("healthy")
    h.connect(model=model)
    greet(h)
    mark = h.mark()
    h.stream(speech_pcm("opening_hours", tail_s=0.0))
    h.send(realtime(audio_stream_end=True))
    h.run(6.0)
    assert bool(h.audio_frames(mark)) == answered


def test_3_8_holds_back_an_answer_under_no_interruption():
    """NO_INTERRUPTION: a 2.5 model talks over the caller, 3.8 waits for the end of the turn."""
    for model, held in ((M25, False), (M38, True)):
        h = Harness.of("healthy")
        h.connect(model=model, realtime_input_config={"activity_handling": "NO_INTERRUPTION"})
        greet(h)
        h.say("opening_hours", tail_s=0.7)  # answered about 0.5 s after this turn ends
        mark = h.mark()
        start = h.now
        h.stream(speech_pcm("check_order", lead_s=0.0, tail_s=0.0))  # caller speaks meanwhile
        speech_end = h.now
        h.stream(bytes(32000))
        h.run(8.0)
        first = h.audio_frames(mark)[0].t
        assert (first > speech_end) == held, (model, first, start, speech_end)
        assert h.session.stats.held_back == int(held)


def test_3_8_content_without_turn_complete_waits():
    h = Harness.of("healthy")
    h.connect(model=M38)
    h.send(content("Greet the caller."))
    h.run(0.7)  # the greeting is playing
    mark = h.mark()
    h.send(content("What time do you close today?", turn_complete=False))
    assert not h.content_with("interrupted", mark)
    h.send(content(None, turn_complete=True))
    assert h.content_with("interrupted", mark)


# ---------------------------------------------------------------- runs, budgets, resumes


def test_silent_stall_is_one_turn_only():
    h = Harness.of("silent-stall")
    h.connect(model=M38)
    greet(h)
    caller_turns(h, "check_order", "opening_hours", "thanks_bye", "still_there")
    assert turn_summary(h) == [
        (True, None, "IDLE"),
        (True, None, "IDLE"),
        (False, None, "IDLE"),
        (True, None, "IDLE"),
        (True, None, "IDLE"),
    ]
    assert h.session.stats.empty_turns == 1


@pytest.mark.parametrize(("on_resume", "after_resume"), [("clears", True), ("keeps", False)])
def test_rejected_run_and_resume(on_resume, after_resume):
    scenario = (
        f"name: r\nfaults:\n  rejected_run: {{from_turn: 2, turns: 5, on_resume: {on_resume}}}\n"
    )
    store = ResumptionStore()
    a = Harness.of(scenario, store=store, session_id="a")
    a.connect(model=M25)
    greet(a)
    caller_turns(a, "check_order", "opening_hours")
    assert [t[:2] for t in turn_summary(a)] == [
        (True, None),
        (False, "RESPONSE_REJECTED"),
        (False, "RESPONSE_REJECTED"),
    ]
    handle = a.handles()[-1]
    a.session.connection_closed(a.now)
    b = Harness.of(scenario, store=store, session_id="b")
    b.connect(t=a.now, model=M25, session_resumption={"handle": handle})
    caller_turns(b, "opening_hours")
    (answered, reason, _) = turn_summary(b)[0]
    assert answered == after_resume
    assert (reason is None) == after_resume


def conversations(scenario: str, model: str, count: int, *said: str) -> Iterator[Harness]:
    """`count` conversations of `scenario` on one emulator (one resumption store): each greeted,
    the caller's `said` spoken, handed to the loop body, then closed."""
    store = ResumptionStore()
    for n in range(count):
        h = Harness.of(scenario, store=store, session_id=f"s{n}")
        h.connect(model=model)
        greet(h)
        caller_turns(h, *said)
        yield h
        h.session.connection_closed(h.now)


def test_a_run_is_decided_once_per_conversation():
    scenario = (
        "name: p\nseed: 5\nfaults:\n  rejected_run: {from_turn: 2, turns: 3, probability: 0.5}\n"
    )
    outcomes = []
    for h in conversations(scenario, M25, 12, "check_order", "opening_hours", "thanks_bye"):
        rejected = [reason is not None for _, reason, _ in turn_summary(h)[1:4]]
        assert len(set(rejected)) == 1  # all or nothing within the run
        outcomes.append(rejected[0])
    assert 0 < sum(outcomes) < len(outcomes)
    again = []
    for h in conversations(scenario, M25, 12, "check_order"):
        again.append(turn_summary(h)[1][1] is not None)
    assert again == outcomes  # seeded: the same conversations get the run


def test_max_times_is_per_emulator_process():
    scenario = "name: m\nfaults:\n  silent_stall: {from_turn: 2, max_times: 2}\n"
    stalled = []
    for h in conversations(scenario, M38, 4, "check_order"):
        stalled.append(not turn_summary(h)[1][0])
    assert stalled == [True, True, False, False]


def test_freeze_after_barge_in_hears_but_never_answers():
    h = Harness.of("freeze-after-barge-in")
    h.connect(model=M38)
    h.send(content("Greet the caller."))
    h.run(0.8)  # greeting audio is playing
    h.say("still_there", lead_s=0.0)
    h.run(2.0)
    assert h.session.stats.interrupts_sent == 1 and h.session.stats.frozen
    mark = h.mark()
    caller_turns(h, "opening_hours", "check_order")
    assert h.input_text(mark)
    assert not h.audio_frames(mark) and not h.content_with("turnComplete", mark)


def test_inaudible_answer_keeps_length_and_transcript():
    from liveguard.emulator.speech import mean_abs

    h = Harness.of("inaudible-answers")
    h.connect(model=M25)
    greet(h)
    mark = h.mark()
    caller_turns(h, "check_order")
    pcm = b"".join(
        p["inlineData"]["data"]
        for s in h.audio_frames(mark)
        for p in s.content["modelTurn"]["parts"]
    )
    assert abs(mean_abs(pcm) - 18) < 1.0
    assert h.output_text(mark) == "Sure, what is your order number?"
    assert h.session.stats.inaudible_turns == 1


def test_background_phase_is_deterministic_and_silent():
    scenario = (
        "name: b\nseed: 3\nfaults:\n"
        "  background_phase: {from_turn: 2, seconds: {uniform: [1.0, 3.0]}}\n"
    )
    logs = []
    for _ in range(2):
        h = Harness.of(scenario)
        h.connect(model=M25)
        greet(h)
        caller_turns(h, "check_order")
        h.run(6.0)
        logs.append([(round(s.t, 6), repr(s.payload)) for s in h.frames()])
        statuses = [t[2] for t in turn_summary(h)]
        assert statuses == [None, "IN_PROGRESS", "IDLE"]
        in_progress = next(
            s.t for s in h.frames() if s.content.get("interactionStatus") == "IN_PROGRESS"
        )
        after = [s.t for s in h.frames() if s.t > in_progress]
        assert 1.0 <= after[0] - in_progress <= 3.6  # phase + first-audio latency, nothing between
    assert logs[0] == logs[1]


def test_endless_background_keeps_caller_turns_unanswered():
    h = Harness.of("endless-in-progress")
    h.connect(model=M38)
    greet(h)
    caller_turns(h, "check_order")
    mark = h.mark()
    caller_turns(h, "still_there")
    h.run(60.0)
    assert h.input_text(mark) and not h.audio_frames(mark)
    assert [t[2] for t in turn_summary(h)] == ["IDLE", "IN_PROGRESS"]


def test_setup_stall_ignores_everything():
    h = Harness.of("setup-never-completes", store=ResumptionStore())
    got = h.connect(model=M38)
    assert got == []
    h.send(content("Greet the caller."))
    caller_turns(h, "check_order")
    assert h.frames() == [] and h.session.stats.setup_stalled


def test_a_scenario_can_pin_the_profile():
    """seed-2333 reproduces the 2.5 incident whatever model name the client asks for."""
    h = Harness.of("seed-2333")
    h.connect(model=M38)
    greet(h)
    h.run(5.0)
    caller_turns(h, "check_order")
    assert h.session.stats.profile == "2.5-native-audio"
    assert h.session.stats.phantom_interrupts == 1 and h.session.stats.wedged_turns == 1
    assert not h.content_with("interactionStatus")
    pinned = Harness.of("name: p\nmodel: {profile: 3.8-live}\n")
    pinned.connect(model=M25)
    greet(pinned)
    assert pinned.session.stats.profile == "3.8-live"
    assert pinned.content_with("interactionStatus")
