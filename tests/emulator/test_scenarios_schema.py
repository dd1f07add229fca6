"""Scenario files: built-ins load, bad files give ScenarioError naming file and field, fuzzing."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_harness import TODAYS_SCENARIOS

from liveguard.emulator.scenario import (
    Dist,
    Scenario,
    ScenarioError,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)

REQUIRED_BUILTINS = {
    "healthy",
    "seed-2333",
    "poisoned-handle",
    "drop-1011",
    "goaway",
    "slow-pongs",
    "rejected",
    "nudge-clears",
} | TODAYS_SCENARIOS


def test_builtins_load_and_describe_themselves():
    names = builtin_scenarios()
    assert REQUIRED_BUILTINS <= set(names)
    for name, description in names.items():
        scenario = load_scenario(name)
        assert scenario.name == name
        assert description and "\n" not in description


def test_seed_2333_builtin_matches_the_incident():
    s = load_scenario("seed-2333")
    assert s.model.greeting_chunks == 11
    assert s.faults.phantom_interrupt.after_turn == 1
    assert s.faults.wedge.start == "after_phantom"
    assert s.faults.wedge.nudge_clear_probability == 0.0


def test_load_from_file(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nseed: 9\nconnection: {pong_delay_s: 1.5}\n")
    s = load_scenario(path)
    assert s.name == "mine" and s.connection.pong_delay_s == 1.5
    assert load_scenario(str(path)) == s


def test_unknown_field_is_named_with_file_and_path(tmp_path: Path):
    path = tmp_path / "typo.yaml"
    path.write_text("name: typo\nfaults:\n  wedge:\n    nudge_clear_probabilty: 0.5\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "faults.wedge.nudge_clear_probabilty: unknown field" in msg


def test_bad_values_are_named(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nmodel:\n  chunk_ms: -3\n  first_audio_latency_s: {uniform: [2, 1]}\n"
        "faults:\n  close: {code: 1234, at_turn: 1}\n"
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert "bad.yaml" in msg
    assert "model.chunk_ms" in msg
    assert "model.first_audio_latency_s" in msg
    assert "faults.close.code" in msg


def test_unknown_clip_is_an_error():
    with pytest.raises(ScenarioError, match="unknown reply clip 'nope'"):
        parse_scenario("name: x\nmodel: {greeting: nope}\n", "x.yaml")


def test_wedge_after_phantom_needs_a_phantom():
    with pytest.raises(ScenarioError, match="needs a phantom_interrupt"):
        parse_scenario("name: x\nfaults: {wedge: {start: after_phantom}}\n")


def test_missing_file_and_not_yaml(tmp_path: Path):
    with pytest.raises(ScenarioError, match="no such scenario"):
        load_scenario(tmp_path / "absent.yaml")
    with pytest.raises(ScenarioError, match="no such scenario"):
        load_scenario("not-a-builtin")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ScenarioError, match="must be a YAML mapping"):
        load_scenario(listy)


def test_dist_forms_and_sampling():
    rng = random.Random(1)
    assert Dist.model_validate(0.5).sample(rng) == 0.5
    u = Dist.model_validate({"uniform": [1, 2]})
    assert all(1 <= u.sample(rng) <= 2 for _ in range(50))
    n = Dist.model_validate({"normal": {"mean": 0.1, "sd": 1}})
    assert all(n.sample(rng) >= 0 for _ in range(50))
    with pytest.raises(ValueError):
        Dist.model_validate({"fixed": 1, "uniform": [1, 2]})


def test_rng_is_the_same_every_time_and_differs_per_connection():
    s = load_scenario("seed-2333")
    assert [s.rng(0).random() for _ in range(2)] == [s.rng(0).random() for _ in range(2)]
    assert s.rng(0).random() != s.rng(1).random()


def test_builtin_files_round_trip_through_the_schema():
    for name in builtin_scenarios():
        s = load_scenario(name)
        again = Scenario.model_validate(yaml.safe_load(yaml.safe_dump(s.model_dump(mode="json"))))
        assert again == s


# ---------------------------------------------------------------- profiles and today's faults


def test_builtins_for_todays_faults_carry_their_fault():
    faults = {
        "silent-stall": "silent_stall",
        "inaudible-answers": "inaudible_answers",
        "response-rejected-run": "rejected_run",
        "cut-answer": "cut_answer",
        "freeze-after-barge-in": "freeze_after_barge_in",
        "endless-in-progress": "endless_background",
        "background-phase": "background_phase",
        "setup-never-completes": "setup_never_completes",
        "setup-stall-affective": "setup_never_completes",
        "resume-rejected-1011": "resume_rejected",
    }
    for name, field in faults.items():
        assert getattr(load_scenario(name).faults, field) is not None, name
    deadline = load_scenario("deadline-1011").faults.close
    assert (deadline.code, deadline.reason, deadline.at_s) == (1011, "Deadline expired", 3480)
    assert load_scenario("deadline-1011").connection.lifetime_s > deadline.at_s
    assert load_scenario("seed-2333").model.profile == "2.5-native-audio"


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("model: {profile: gemini-4}", "model.profile", "Input should be"),
        (
            "model: {background_work: {filler: still_here}}",
            "model.background_work",
            "on_utterances",
        ),
        (
            "model: {background_work: {on_utterances: [nope]}}",
            "model.background_work.on_utterances.0",
            "unknown utterance clip 'nope'",
        ),
        (
            "model: {background_work: {on_turns: [0]}}",
            "model.background_work",
            "user turn numbers",
        ),
        (
            "model: {background_work: {on_turns: [2], phases: 0}}",
            "model.background_work.phases",
            "",
        ),
        ("faults: {silent_stall: {from_turn: 0}}", "faults.silent_stall.from_turn", ""),
        ("faults: {silent_stall: {turns: 0}}", "faults.silent_stall.turns", ""),
        ("faults: {silent_stall: {on_resume: sometimes}}", "faults.silent_stall.on_resume", ""),
        ("faults: {rejected_run: {reason: SAFETY}}", "faults.rejected_run.reason", ""),
        ("faults: {inaudible_answers: {mean_abs: -1}}", "faults.inaudible_answers.mean_abs", ""),
        ("faults: {inaudible_answers: {mean_abs: 40000}}", "faults.inaudible_answers.mean_abs", ""),
        ("faults: {cut_answer: {fraction: 1.0}}", "faults.cut_answer.fraction", ""),
        ("faults: {cut_answer: {fraction: 0}}", "faults.cut_answer.fraction", ""),
        ("faults: {freeze_after_barge_in: {after_barge_ins: 0}}", "after_barge_ins", ""),
        (
            "faults: {background_phase: {seconds: {uniform: [3, 1]}}}",
            "background_phase.seconds",
            "",
        ),
        (
            "faults: {endless_background: {filler: hmm}}",
            "faults.endless_background.filler",
            "unknown reply clip 'hmm'",
        ),
        (
            "faults: {setup_never_completes: {when_setup_has: [voice]}}",
            "faults.setup_never_completes.when_setup_has.0",
            "",
        ),
        ("faults: {setup_never_completes: {when_setup_has: []}}", "when_setup_has", ""),
        ("faults: {resume_rejected: {code: 1006}}", "faults.resume_rejected.code", ""),
        ("faults: {silent_stall: {after_turn: 2}}", "faults.silent_stall.after_turn", "unknown"),
    ],
)
def test_bad_fault_and_profile_fields_are_named(text, where, what):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(f"name: x\n{text}\n", "today.yaml")
    msg = str(err.value)
    assert msg.startswith("today.yaml")
    assert where in msg, msg
    assert what in msg, msg


def test_turn_fault_covers_its_run():
    s = parse_scenario(
        "name: x\nfaults:\n  rejected_run: {from_turn: 3, turns: 2}\n"
        "  inaudible_answers: {from_turn: 2, turns: null}\n"
    )
    run = s.faults.rejected_run
    assert [t for t in range(1, 8) if run.covers(t)] == [3, 4]
    assert [t for t in range(1, 8) if s.faults.inaudible_answers.covers(t)] == [2, 3, 4, 5, 6, 7]


# ---------------------------------------------------------------- fuzzing

_keys = st.sampled_from(
    [
        "name",
        "seed",
        "model",
        "faults",
        "connection",
        "wedge",
        "close",
        "phantom_interrupt",
        "chunk_ms",
        "code",
        "at_turn",
        "uniform",
        "fixed",
        "x",
        "greeting",
        "probability",
        "profile",
        "background_work",
        "silent_stall",
        "rejected_run",
        "inaudible_answers",
        "cut_answer",
        "background_phase",
        "setup_never_completes",
        "resume_rejected",
        "from_turn",
        "turns",
        "mean_abs",
        "fraction",
    ]
)
_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=12),
)
_yamlish = st.recursive(
    _leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_yamlish)
def test_random_structures_give_scenario_error_or_a_scenario(data):
    text = yaml.safe_dump(data)
    try:
        s = parse_scenario(text, "fuzz.yaml")
    except ScenarioError as e:
        assert str(e).startswith("fuzz.yaml")
    else:
        assert isinstance(s, Scenario)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=200))
def test_random_text_gives_scenario_error_never_a_crash(text):
    try:
        parse_scenario(text, "garbage.yaml")
    except ScenarioError as e:
        assert "garbage.yaml" in str(e)


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=200))
def test_random_bytes_in_a_file_give_scenario_error(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("fuzz") / "f.yaml"
    path.write_bytes(raw)
    try:
        load_scenario(path)
    except ScenarioError as e:
        assert "f.yaml" in str(e)
