"""TurnTracker, HandleHistory and ActivityGate on their own."""

from __future__ import annotations

import pytest
from guard_helpers import caller_says, model_turn

from liveguard.events import (
    CallerSpeechEnded,
    CallerSpeechStarted,
    CallerText,
    InputTranscript,
    Interrupted,
    ModelAudio,
    SessionEnded,
    ToolCall,
    ToolResponse,
    TurnComplete,
    UpstreamClosed,
    UpstreamConnected,
    UpstreamConnecting,
    Usage,
)
from liveguard.guard import ActivityGate, HandleHistory, TurnTracker


def feed_all(tracker: TurnTracker, events) -> list:
    out = []
    for e in events:
        out += tracker.feed(e)
    return out


def test_tracker_counts_and_incident_fields():
    tr = TurnTracker()
    assert tr.incident_fields(0.0) == {"turn": 1, "last_user_tx": "", "last_user_tx_age_ms": -1}
    greeting, _end = model_turn(0.5, 11, 1, "Hello.")
    feed_all(tr, greeting)
    assert (tr.turn, tr.gemini_audio_chunks, tr.turn_audio_chunks) == (2, 11, 0)
    assert tr.output_tokens == 275
    out = feed_all(tr, caller_says(10.0, 1.0, "change my booking"))
    assert out == [] and tr.awaiting is not None and tr.awaiting.text == "change my booking"
    assert tr.incident_fields(12.0)["last_user_tx"] == "change my booking"
    assert tr.last_user_tx_age_ms(12.0) == 1100  # last fragment at 10.9
    out = feed_all(tr, [ModelAudio(t=12.4, bytes=1, gemini_audio_chunks=12)])
    assert [(o.name, o.turn, o.latency_s) for o in out] == [("turn_answered", 2, 1.0)]
    assert tr.awaiting is None
    assert tr.history == (("model", "Hello."), ("user", "change my booking"))


def test_tracker_seed_and_unanswered_text():
    tr = TurnTracker()
    feed_all(tr, model_turn(0.5, 3, 1, "Hi.")[0])
    feed_all(tr, caller_says(5.0, 1.0, "first thing"))
    feed_all(tr, [CallerText(t=9.0, text="second thing")])
    assert tr.seed_turns() == (("model", "Hi."),)
    assert tr.unanswered_text() == "first thing second thing"


def test_short_vad_blip_needs_a_transcript():
    tr = TurnTracker(min_utterance_s=0.25)
    feed_all(tr, [CallerSpeechStarted(t=1.0), CallerSpeechEnded(t=1.1, duration_s=0.1)])
    assert tr.awaiting is None
    feed_all(tr, [InputTranscript(t=1.5, text="yes")])
    assert tr.awaiting is not None and tr.awaiting.start_t == 1.0


def test_tool_call_pauses_and_response_restarts_the_deadline():
    tr = TurnTracker()
    feed_all(tr, caller_says(1.0, 1.0, "weather please"))
    feed_all(tr, [ToolCall(t=3.0, ids=("a",)), TurnComplete(t=3.1, turn=1)])
    assert tr.awaiting is not None and tr.awaiting.paused
    feed_all(tr, [ToolResponse(t=9.0, ids=("a",))])
    assert not tr.awaiting.paused and tr.awaiting.anchor_t == 9.0


def test_interrupted_turn_and_bounds():
    tr = TurnTracker(max_history_turns=4, max_turn_chars=10)
    for i in range(10):
        feed_all(
            tr,
            [CallerText(t=i, text="x" * 50), ModelAudio(t=i + 0.5, bytes=1, gemini_audio_chunks=0)],
        )
        feed_all(tr, model_turn(i + 0.5, 1, i, "y" * 50)[0])
    assert len(tr.history) == 4 and all(len(text) <= 10 for _, text in tr.history)
    feed_all(tr, [Interrupted(t=20.0)])
    assert tr.turn_interrupted and not tr.model_active
    feed_all(tr, [Usage(t=21.0, output_tokens=0), TurnComplete(t=21.0, turn=11)])
    assert not tr.turn_interrupted and tr.turn_output_tokens is None


def test_handle_history():
    h = HandleHistory(maxlen=3)
    assert h.newest() is None
    for i in range(5):
        h.add(f"h{i}", float(i), turn=i)
    assert len(h) == 3 and h.newest().handle == "h4"
    assert h.newest_before(3.5).handle == "h3"
    assert h.newest_before(2.0) is None  # h0, h1 dropped; h2 is not *before* 2.0
    assert h.poison_since(3.0) == 2
    assert h.newest().handle == "h2"
    assert h.newest(include_poisoned=True).handle == "h4"
    h.add(None, 6.0, turn=6, resumable=False)
    assert not h.resumable and len(h) == 3
    h.poison_all()
    assert h.newest() is None
    with pytest.raises(ValueError):
        HandleHistory(maxlen=0)


def test_activity_gate_opens_only_for_speech_and_always_closes():
    gate = ActivityGate()
    assert gate.feed(InputTranscript(t=0.5, text="noise")) == []
    assert gate.feed(CallerSpeechEnded(t=0.6)) == []  # never opened: nothing to close
    assert [s.kind for s in gate.feed(CallerSpeechStarted(t=1.0))] == ["start"]
    assert gate.feed(CallerSpeechStarted(t=1.1)) == []  # no double start
    assert [s.kind for s in gate.feed(CallerSpeechEnded(t=2.0))] == ["end"]
    # reconnect while the caller speaks: close on the old connection, reopen on the new one
    gate.feed(CallerSpeechStarted(t=3.0))
    assert [s.kind for s in gate.closing(3.5)] == ["end"]
    assert gate.feed(UpstreamClosed(t=3.5, code=1000, side="client")) == []
    assert gate.feed(UpstreamConnecting(t=3.5, attempt=2)) == []
    assert gate.feed(CallerSpeechEnded(t=3.6)) == []  # not connected: nothing open
    gate.feed(CallerSpeechStarted(t=3.7))
    assert [s.kind for s in gate.feed(UpstreamConnected(t=3.9, attempt=2))] == ["start"]
    # a server drop kills the activity; session end closes what is open
    assert gate.feed(UpstreamClosed(t=4.0, code=1011)) == [] and not gate.is_open
    assert [s.kind for s in gate.feed(UpstreamConnected(t=4.5, attempt=3))] == ["start"]
    assert [s.kind for s in gate.feed(SessionEnded(t=5.0))] == ["end"]
    assert gate.feed(CallerSpeechStarted(t=6.0)) == []
    assert gate.opened == gate.closed + 1  # the one the server drop closed
