"""Server messages -> events, with the incident's counters kept across turns (no sockets)."""

from __future__ import annotations

import base64

import pytest
from google.genai import _live_converters as live_converters
from google.genai import types

from liveguard import events as ev
from liveguard.session.translate import MessageTranslator, audio_rate, parse_duration


def msg(frame: dict) -> types.LiveServerMessage:
    """Parse a wire frame exactly the way the SDK's receive path does."""
    converted = live_converters._LiveServerMessage_from_mldev(frame)
    return types.LiveServerMessage._from_response(response=converted, kwargs={})


def audio_frame(n_bytes: int = 1920) -> dict:
    data = base64.b64encode(b"\x00\x01" * (n_bytes // 2)).decode()
    return {
        "serverContent": {
            "modelTurn": {
                "parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}]
            }
        }
    }


def test_the_incident_sequence_keeps_its_counters():
    tr = MessageTranslator()
    for i in range(11):  # the greeting: 11 chunks
        out = tr.translate(msg(audio_frame()), 0.1 * i)
        assert out.audio[0].rate == 24000 and len(out.audio[0].pcm) == 1920
        assert out.events[0] == out.audio[0].event
    done = tr.translate(msg({"serverContent": {"turnComplete": True}}), 1.2).events
    assert done == [ev.TurnComplete(t=1.2, turn=1, gemini_audio_chunks=11, turn_audio_chunks=11)]
    phantom = tr.translate(msg({"serverContent": {"interrupted": True}}), 1.2).events
    assert phantom == [ev.Interrupted(t=1.2, turn=2, last_user_tx="", last_user_tx_age_ms=-1)]
    second = tr.translate(msg({"serverContent": {"turnComplete": True}}), 4.2).events
    assert second[0].turn == 2 and second[0].turn_audio_chunks == 0
    assert second[0].gemini_audio_chunks == 11


def test_transcripts_accumulate_into_last_user_tx_with_age():
    tr = MessageTranslator()
    tr.translate(msg({"serverContent": {"inputTranscription": {"text": "where is"}}}), 5.0)
    tr.translate(msg({"serverContent": {"inputTranscription": {"text": " my order"}}}), 5.3)
    (interrupt,) = tr.translate(msg({"serverContent": {"interrupted": True}}), 5.8).events
    assert interrupt.last_user_tx == "where is my order"
    assert interrupt.last_user_tx_age_ms == 500
    # a new utterance much later starts a new transcript
    tr.translate(msg({"serverContent": {"inputTranscription": {"text": " hello"}}}), 20.0)
    assert tr.last_user_tx == "hello"


def test_usage_comes_before_turn_complete_and_sums():
    tr = MessageTranslator()
    frame = {
        "serverContent": {"turnComplete": True, "turnCompleteReason": "RESPONSE_REJECTED"},
        "usageMetadata": {"promptTokenCount": 120, "responseTokenCount": 0, "totalTokenCount": 120},
    }
    events = tr.translate(msg(frame), 2.0).events
    assert [type(e) for e in events] == [ev.Usage, ev.TurnComplete]
    assert events[0].input_tokens == 120 and events[0].output_tokens == 0
    assert events[1].reason == "RESPONSE_REJECTED"
    tr.translate(msg({"usageMetadata": {"promptTokenCount": 30, "responseTokenCount": 7}}), 3.0)
    assert (tr.input_tokens, tr.output_tokens) == (150, 7)


def test_resumption_goaway_voice_activity_tools():
    tr = MessageTranslator()
    (upd,) = tr.translate(
        msg({"sessionResumptionUpdate": {"newHandle": "h1", "resumable": True}}), 1.0
    ).events
    assert upd == ev.ResumptionUpdate(t=1.0, handle="h1", resumable=True, turn=1)
    (busy,) = tr.translate(msg({"sessionResumptionUpdate": {"resumable": False}}), 1.1).events
    assert busy.handle is None and not busy.resumable
    (away,) = tr.translate(msg({"goAway": {"timeLeft": "8s"}}), 2.0).events
    assert away.time_left_s == 8.0
    va = tr.translate(msg({"serverContent": {}, "voiceActivity": {"type": "ACTIVITY_START"}}), 3.0)
    assert va.events == [ev.VoiceActivity(t=3.0, kind="ACTIVITY_START")]
    call = {"toolCall": {"functionCalls": [{"id": "c1", "name": "lookup", "args": {"n": "4"}}]}}
    out = tr.translate(msg(call), 4.0)
    assert out.events == [ev.ToolCall(t=4.0, ids=("c1",), names=("lookup",))]
    assert out.function_calls[0].args == {"n": "4"}


@pytest.mark.parametrize(
    ("text", "seconds"), [("50s", 50.0), ("0.440s", 0.44), ("", 0.0), (None, 0.0), ("bogus", 0.0)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_audio_rate_from_mime():
    assert audio_rate("audio/pcm;rate=16000") == 16000
    assert audio_rate("audio/pcm") == 24000
