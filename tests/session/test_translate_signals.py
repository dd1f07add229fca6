"""The translator surfaces what the guard needs from today's models (issue 13): the audio level of
every model chunk (also on the lean wire's audio path), interactionStatus, turnCompleteReason and
waitingForInput, parsed by the SDK 3.6.1 exactly as its receive path does."""

from __future__ import annotations

import base64
import json

import numpy as np
from google.genai import _live_converters as live_converters
from google.genai import types

from liveguard.fastpath.sdk_parse import parse_server_message
from liveguard.guard import TurnTracker
from liveguard.session.translate import MessageTranslator, audio_level


def msg(frame: dict) -> types.LiveServerMessage:
    converted = live_converters._LiveServerMessage_from_mldev(frame)
    return types.LiveServerMessage._from_response(response=converted, kwargs={})


def pcm(level: int, n: int = 960) -> bytes:
    """Alternating ±level samples: mean |x| is exactly `level`."""
    x = np.full(n, level, dtype="<i2")
    x[1::2] = -level
    return x.tobytes()


def audio_frame(data: bytes) -> dict:
    enc = base64.b64encode(data).decode()
    part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": enc}}
    return {"serverContent": {"modelTurn": {"parts": [part]}}}


def test_audio_level_is_the_mean_absolute_sample():
    assert audio_level(pcm(18)) == 18.0
    assert audio_level(pcm(4000)) == 4000.0
    assert audio_level(np.array([-32768, -32768], dtype="<i2").tobytes()) == 32768.0  # no wrap
    assert audio_level(b"") == 0.0 and audio_level(b"\x01") == 0.0
    assert audio_level(pcm(100) + b"\x7f") == 100.0  # an odd trailing byte is ignored


def test_model_audio_carries_its_level_on_both_paths():
    sdk = MessageTranslator().translate(msg(audio_frame(pcm(18))), 1.0)
    raw = json.dumps(audio_frame(pcm(18)))
    lean = MessageTranslator().translate(parse_server_message(raw), 1.0)
    assert sdk.events[0].level == lean.events[0].level == 18.0
    assert sdk.events == lean.events


def test_turn_complete_carries_interaction_status_reason_and_waiting_for_input():
    tr = MessageTranslator()
    frame = {
        "serverContent": {
            "turnComplete": True,
            "interactionStatus": "IN_PROGRESS",
            "turnCompleteReason": "NEED_MORE_INPUT",
            "waitingForInput": True,
        }
    }
    (done,) = tr.translate(msg(frame), 2.0).events
    assert done.interaction_status == "IN_PROGRESS"
    assert done.reason == "NEED_MORE_INPUT" and done.waiting_for_input
    assert done.to_record()["interaction_status"] == "IN_PROGRESS"
    (idle,) = tr.translate(msg({"serverContent": {"turnComplete": True}}), 3.0).events
    assert idle.interaction_status is None and idle.reason is None


def test_one_message_with_audio_and_turn_complete_is_counted_once():
    """The counters live in the tracker alone; within one message the translator counts ahead."""
    tracker = TurnTracker()
    tr = MessageTranslator(caller=tracker)
    frame = audio_frame(pcm(3000))
    frame["serverContent"]["turnComplete"] = True
    frame["serverContent"]["modelTurn"]["parts"] *= 2
    out = tr.translate(msg(frame), 1.0).events
    assert [(e.name, getattr(e, "gemini_audio_chunks", None)) for e in out] == [
        ("model_audio", 1),
        ("model_audio", 2),
        ("turn_complete", 2),
    ]
    assert out[2].turn == 1 and out[2].turn_audio_chunks == 2
    for e in out:  # what the session does: every event reaches the guard's tracker
        tracker.feed(e)
    assert (tr.turn, tr.gemini_audio_chunks, tr.turn_audio_chunks) == (2, 2, 0)
    (nxt,) = tr.translate(msg(audio_frame(pcm(3000))), 2.0).events
    assert (nxt.gemini_audio_chunks, nxt.turn) == (3, 2)
