"""The simulated caller's bookkeeping in fast time: playout (heard audio, markers), turn lines."""

from __future__ import annotations

import pytest

from liveguard.caller.playout import RATE, Playout
from liveguard.caller.turns import TurnLog


def _audio(seconds: float, byte: int = 0x10) -> bytes:
    return bytes([byte]) * round(seconds * RATE)


def test_audio_plays_back_to_back_at_real_time() -> None:
    p = Playout(max_record_s=60)
    assert p.add_audio(10.0, _audio(1.0)) == pytest.approx(1.0)
    p.add_audio(10.2, _audio(0.5))  # arrives while the first is playing: queued behind it
    assert p.play_end == pytest.approx(11.5)
    assert p.heard_s(10.5) == pytest.approx(0.5)
    assert p.playing(11.4) and not p.playing(11.5)
    assert p.heard_s(20.0) == pytest.approx(1.5)


def test_clear_drops_the_unplayed_audio_from_what_was_heard() -> None:
    p = Playout(max_record_s=60)
    p.add_audio(0.0, _audio(1.0, 0x01) + _audio(1.0, 0x02))
    p.clear(0.5, echo_marks=True)
    assert p.clears == 1 and p.cleared_s == pytest.approx(1.5)
    assert bytes(p.heard) == _audio(0.5, 0x01)
    assert p.heard_s(5.0) == pytest.approx(0.5) and not p.playing(0.5)


def test_marks_fall_due_after_the_audio_before_them() -> None:
    p = Playout(max_record_s=60)
    p.add_mark(1.0, "early")  # nothing playing: due at once
    p.add_audio(1.0, _audio(2.0))
    p.add_mark(1.1, "after-audio")
    assert list(p.marks) == [(1.0, "early"), (pytest.approx(3.0), "after-audio")]


@pytest.mark.parametrize("echo", [True, False])
def test_clear_echoes_pending_marks_now_or_drops_them(echo: bool) -> None:
    p = Playout(max_record_s=60)
    p.add_audio(0.0, _audio(2.0))
    p.add_mark(0.0, "m1")
    p.clear(0.5, echo_marks=echo)
    assert list(p.marks) == ([(0.5, "m1")] if echo else [])


def test_recorded_audio_is_bounded() -> None:
    p = Playout(max_record_s=1.0)
    p.add_audio(0.0, _audio(0.8))
    p.add_audio(0.0, _audio(0.8))  # would pass the bound: played but not recorded
    assert len(p.heard) == round(0.8 * RATE)
    assert p.heard_s(10.0) == pytest.approx(1.6)


def test_turn_line_measures_silence_and_what_was_heard() -> None:
    p = Playout(max_record_s=60)
    log = TurnLog(p)
    turn = log.begin(0.0, "question", "say")
    log.end_of_speech(turn, 2.0)
    assert log.answer_start == 2.0
    log.on_audio(2.7, 2.7, 0.5)  # the first answer audio
    p.add_audio(2.7, _audio(1.0))
    log.on_audio(3.0, 3.2, 0.5)  # later audio does not move the first
    line = log.finish(5.0)
    assert line == {
        "turn": 1,
        "utterance": "question",
        "kind": "say",
        "answered": True,
        "end_of_speech_to_first_audio_s": 0.7,
        "heard_s": 1.0,
        "silence_s": 0.7,
    }
    assert log.current is None and log.finish(6.0) is None


def test_a_gap_inside_the_answer_is_silence_the_caller_sat_through() -> None:
    log = TurnLog(Playout(max_record_s=60))
    turn = log.begin(0.0, "question", "say")
    log.end_of_speech(turn, 1.0)
    log.on_audio(1.5, 1.5, 1.0)  # a filler, 0.5 s after the end of speech, plays until 2.5
    log.on_audio(6.5, 6.5, 1.0)  # the answer after 4 s of background work
    line = log.finish(8.0)
    assert line is not None
    assert line["end_of_speech_to_first_audio_s"] == 0.5
    assert line["silence_s"] == 4.0


def test_unanswered_turn_counts_silence_until_it_ends() -> None:
    log = TurnLog(Playout(max_record_s=60))
    turn = log.begin(0.0, "dtmf:5", "dtmf")
    log.end_of_speech(turn, 1.0)
    line = log.finish(4.5)
    assert line is not None
    assert line["answered"] is False and line["end_of_speech_to_first_audio_s"] is None
    assert line["silence_s"] == 3.5


def test_barge_in_line_says_whether_the_model_was_cleared() -> None:
    p = Playout(max_record_s=60)
    log = TurnLog(p)
    p.add_audio(0.0, _audio(3.0))  # the model is talking
    turn = log.begin(1.0, "stop", "barge_in")
    turn.barged = True
    p.clear(1.5, echo_marks=False)
    log.end_of_speech(turn, 2.0)
    line = log.finish(2.5)
    assert line is not None and log.count == 1
    assert line["barged"] is True and line["clear_received"] is True
    assert line["cleared_s"] == 1.5
