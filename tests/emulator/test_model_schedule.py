"""The emulated model's time queue and spoken-part plan, on their own in fast time."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from liveguard.emulator import speech
from liveguard.emulator.schedule import Schedule


@dataclass
class _Owner:
    cancelled: bool = False


def test_actions_run_in_time_order_and_ties_in_scheduling_order() -> None:
    q: Schedule[str] = Schedule()
    q.at(2.0, None, lambda t: [f"b@{t}"])
    q.at(1.0, None, lambda t: [f"a@{t}"])
    q.at(2.0, None, lambda t: [f"c@{t}"])
    assert q.next_time() == 1.0 and q.any_due(1.0) and not q.any_due(0.5)
    assert q.run_due(1.5, lambda: False) == ["a@1.0"]
    assert q.run_due(5.0, lambda: False) == ["b@2.0", "c@2.0"]
    assert q.next_time() is None and len(q) == 0


def test_a_cancelled_owner_drops_its_actions() -> None:
    q: Schedule[str] = Schedule()
    gen = _Owner()
    q.at(1.0, gen, lambda t: ["spoken"])
    q.at(3.0, None, lambda t: ["goaway"])
    gen.cancelled = True
    assert q.next_time() == 3.0
    assert q.run_due(10.0, lambda: False) == ["goaway"]


def test_stop_ends_the_run_after_the_action_that_asked() -> None:
    q: Schedule[str] = Schedule()
    closed = []
    q.at(1.0, None, lambda t: closed.append(t) or ["close"])
    q.at(1.0, None, lambda t: ["after close"])
    assert q.run_due(2.0, lambda: bool(closed)) == ["close"]
    assert len(q) == 1


def _part(fraction: float = 1.0, count: int | None = None) -> speech.SpokenPart:
    return speech.spoken_part(
        "order_shipped",
        chunk_ms=40,
        chunk_count=count,
        level=None,
        fraction=fraction,
        playback_speed=1.0,
        send_speedup=1.0,
        fragment_words=2,
    )


def test_a_part_sends_every_word_once_spread_over_its_chunks() -> None:
    part = _part()
    words = [w for piece in part.words for w in piece]
    assert "".join(words).strip() == part.text
    assert len(part.words) == len(part.chunks)
    assert part.duration == pytest.approx(speech.reply_seconds("order_shipped"))
    assert part.spacing == pytest.approx(part.duration / len(part.chunks))


def test_a_cut_part_stops_audio_and_words_together() -> None:
    full, cut = _part(), _part(fraction=0.5)
    assert len(cut.chunks) == math.ceil(len(full.chunks) * 0.5)
    assert cut.duration == pytest.approx(full.duration * len(cut.chunks) / len(full.chunks))
    assert full.text.startswith(cut.text) and len(cut.text) < len(full.text)


def test_a_greeting_goes_out_in_the_chunk_count_asked_for() -> None:
    assert len(_part(count=3).chunks) == 3
