"""`liveguard call` scripts: the shipped ones load, bad ones fail with the step and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveguard.audio.clips import utterance_names
from liveguard.caller.script import (
    BargeIn,
    CallScript,
    Dtmf,
    Say,
    ScriptError,
    WaitAnswer,
    builtin_scripts,
    load_script,
    parse_script,
)
from liveguard.caller.simulated import clip_ulaw


def test_shipped_scripts_are_valid_and_use_shipped_clips() -> None:
    names = builtin_scripts()
    assert {"three-turns", "barge-in", "dtmf", "quick"} <= set(names)
    for name in names:
        script = load_script(name)
        for step in script.steps:
            if isinstance(step, Say | BargeIn):
                assert step.clip in utterance_names()
                assert len(clip_ulaw(step.clip)) > 8000 * 0.5  # real speech, μ-law 8 kHz


def test_shorthand_and_long_forms(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "name: t\nsteps:\n  - wait_answer: 5\n  - say: check_order\n  - dtmf: 7\n"
        "  - barge_in: still_there\n    after: 0.3\n  - wait_answer: {timeout: 4, quiet: 1}\n"
        "  - hangup\n"
    )
    s = load_script(f)
    assert s.steps[0] == WaitAnswer(timeout=5)
    assert s.steps[2] == Dtmf(digit="7")
    assert s.steps[3] == BargeIn(clip="still_there", after=0.3)
    assert s.steps[4] == WaitAnswer(timeout=4, quiet=1)
    assert s.steps[5].kind == "hangup"


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"say": "x", "pause": 1}], "step 1: needs exactly one of"),
        ([{"pause": 1}, {"dtmf": "55"}], "step 2 digit"),
        ([{"wait_answer": -1}], "step 1 timeout"),
        ([{"barge_in": "a", "afterr": 1}], "step 1 afterr"),
        (["shout"], "step 1: expected a mapping"),
        ([], "steps"),
    ],
)
def test_bad_scripts_say_where(steps: list, message: str) -> None:
    with pytest.raises(ScriptError, match=message) as info:
        parse_script({"steps": steps}, "my.yaml")
    assert str(info.value).startswith("my.yaml: ")


def test_unknown_script_and_clip_are_clear() -> None:
    with pytest.raises(ScriptError, match=r"no script 'nope'.*three-turns"):
        load_script("nope")
    with pytest.raises(ScriptError, match="unknown clip 'nope'"):
        clip_ulaw("nope")


_step = st.one_of(
    st.dictionaries(
        st.sampled_from(["say", "pause", "dtmf", "barge_in", "wait_answer", "after", "x"]),
        st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5)),
        max_size=3,
    ),
    st.text(max_size=8),
    st.integers(),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_step, max_size=6))
def test_fuzz_parse_gives_a_script_or_a_script_error(steps: list) -> None:
    try:
        result = parse_script({"steps": steps}, "fuzz")
    except ScriptError as exc:
        assert str(exc).startswith("fuzz: ")
    else:
        assert isinstance(result, CallScript) and len(result.steps) == len(steps)
