"""The sans-I/O Twilio Media Streams protocol: event order, bad input, framing, marks, clear."""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from json_strategies import event_messages, json_values
from liveguard.transports.twilio_protocol import (
    FRAME_BYTES,
    Connected,
    DtmfIn,
    MarkPlayed,
    MediaIn,
    ProtocolError,
    StreamStart,
    StreamStop,
    TwilioMediaStream,
)

SID = "MZ0123"


def start_msg(**start: object) -> str:
    body = {
        "streamSid": SID,
        "callSid": "CA1",
        "accountSid": "AC1",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"caller": "+1555"},
        **start,
    }
    return json.dumps({"event": "start", "sequenceNumber": "1", "start": body, "streamSid": SID})


def media_msg(payload: bytes, sid: str = SID) -> str:
    b64 = base64.b64encode(payload).decode()
    return json.dumps({"event": "media", "streamSid": sid, "media": {"payload": b64}})


def started() -> TwilioMediaStream:
    p = TwilioMediaStream()
    assert isinstance(p.receive('{"event":"connected","protocol":"Call"}')[0], Connected)
    (start,) = p.receive(start_msg())
    assert isinstance(start, StreamStart)
    return p


def test_start_carries_custom_parameters_and_format() -> None:
    p = TwilioMediaStream()
    (start,) = p.receive(start_msg())
    assert isinstance(start, StreamStart)
    assert start.stream_sid == SID and start.call_sid == "CA1"
    assert start.custom_parameters == {"caller": "+1555"}
    assert start.media_format["sampleRate"] == 8000
    assert p.state == "started"


def test_media_before_start_is_a_non_fatal_error() -> None:
    p = TwilioMediaStream()
    (err,) = p.receive(media_msg(b"\xff" * 160))
    assert isinstance(err, ProtocolError) and not err.fatal
    assert "before 'start'" in err.reason
    assert isinstance(p.receive(start_msg())[0], StreamStart)  # the call can still start


def test_bad_inputs_give_clear_reasons_and_keep_the_call() -> None:
    p = started()
    cases = {
        "not json {": "invalid JSON",
        "[1, 2]": "not a JSON object",
        '{"event": "media", "streamSid": "MZ0123", "media": {"payload": "@@@"}}': "base64",
        '{"event": "media", "streamSid": "MZ0123"}': "media object",
        '{"event": "bogus"}': "unknown event",
        '{"event": "dtmf", "streamSid": "MZ0123", "dtmf": {"digit": "55"}}': "invalid digit",
        '{"event": "mark", "streamSid": "MZ0123", "mark": {"name": "never-sent"}}': "never sent",
        start_msg(): "duplicate 'start'",
        media_msg(b"\xff" * 160, sid="MZother"): "another streamSid",
    }
    for text, expected in cases.items():
        (err,) = p.receive(text)
        assert isinstance(err, ProtocolError), text
        assert expected in err.reason and not err.fatal, (text, err.reason)
    (ok,) = p.receive(media_msg(b"\x01" * 160))
    assert isinstance(ok, MediaIn) and ok.payload == b"\x01" * 160


def test_oversized_and_binary_frames_are_rejected() -> None:
    p = TwilioMediaStream(max_message_bytes=2000)
    p.receive(start_msg())
    (err,) = p.receive(media_msg(b"\xff" * 3000))
    assert isinstance(err, ProtocolError) and "exceeds 2000" in err.reason
    (err,) = p.receive(b"\x00\x01")
    assert isinstance(err, ProtocolError) and "binary" in err.reason


def test_unsupported_media_format_is_fatal() -> None:
    p = TwilioMediaStream()
    fmt = {"encoding": "audio/x-alaw", "sampleRate": 8000, "channels": 1}
    (err,) = p.receive(start_msg(mediaFormat=fmt))
    assert isinstance(err, ProtocolError) and err.fatal and "unsupported media format" in err.reason


def test_too_many_errors_become_fatal() -> None:
    p = TwilioMediaStream(max_errors=3)
    p.receive("x")
    p.receive("x")
    out = p.receive("x")
    assert [e.fatal for e in out if isinstance(e, ProtocolError)] == [False, True]


def test_dtmf_stop_and_drop() -> None:
    p = started()
    (d,) = p.receive('{"event":"dtmf","streamSid":"MZ0123","dtmf":{"digit":"#"}}')
    assert d == DtmfIn("#")
    (s,) = p.receive('{"event":"stop","streamSid":"MZ0123","stop":{}}')
    assert isinstance(s, StreamStop) and s.reason == "stop"
    assert p.connection_lost() is None  # a stop came first: not a drop
    q = started()
    lost = q.connection_lost()
    assert lost is not None and lost.reason == "dropped"


def test_outbound_media_is_whole_20ms_frames_with_carry_and_a_mark() -> None:
    p = started()
    out = p.send_audio(b"\x10" * 400)  # 2.5 frames
    media = [json.loads(m) for m in out if '"media"' in m]
    marks = [json.loads(m) for m in out if '"mark"' in m]
    assert len(media) == 1 and len(marks) == 1 and '"mark"' in out[-1]
    assert len(base64.b64decode(media[0]["media"]["payload"])) == 2 * FRAME_BYTES
    assert media[0]["streamSid"] == SID and p.frames_out == 2
    assert p.send_audio(b"\x10" * 60) == []  # still under a frame with the carry: nothing yet
    tail = p.flush()
    payload = base64.b64decode(json.loads(tail[0])["media"]["payload"])
    assert payload == b"\x10" * 140 + b"\xff" * 20  # padded with μ-law silence
    assert json.loads(tail[1])["event"] == "mark"
    assert abs(p.sent_s - 3 * 0.02) < 1e-9


def test_marks_track_what_was_played_and_clear_drops_the_rest() -> None:
    p = started()
    names = []
    for _ in range(3):
        out = p.send_audio(b"\x10" * 1600)  # 200 ms each
        names.append(json.loads(out[-1])["mark"]["name"])
    (m,) = p.receive(json.dumps({"event": "mark", "streamSid": SID, "mark": {"name": names[0]}}))
    assert isinstance(m, MarkPlayed) and abs(m.played_s - 0.2) < 1e-9
    assert abs(p.unplayed_s - 0.4) < 1e-9
    clear, unplayed = p.clear()
    assert json.loads(clear) == {"event": "clear", "streamSid": SID}
    assert abs(unplayed - 0.4) < 1e-9 and p.unplayed_s == 0
    # Twilio echoes the cleared marks: they count as not played
    for name in names[1:]:
        (echo,) = p.receive(json.dumps({"event": "mark", "streamSid": SID, "mark": {"name": name}}))
        assert isinstance(echo, MarkPlayed) and echo.cleared
    assert abs(p.played_s - 0.2) < 1e-9


def test_nothing_is_sent_before_start() -> None:
    p = TwilioMediaStream()
    assert p.send_audio(b"\x00" * 320) == [] and p.flush() == []


_events = ["connected", "start", "media", "mark", "dtmf", "stop", "x", None]
_keys = ["start", "media", "mark", "dtmf", "streamSid", "stop"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=60),
            st.binary(max_size=40),
            event_messages(_events, _keys, json_values(floats=False), max_keys=3),
        ),
        max_size=8,
    )
)
def test_fuzz_receive_never_raises(frames: list) -> None:
    p = TwilioMediaStream(max_errors=1000)
    p.receive(start_msg())
    for frame in frames:
        out = p.receive(frame)
        assert isinstance(out, list)
        for item in out:
            assert isinstance(
                item,
                Connected
                | StreamStart
                | MediaIn
                | MarkPlayed
                | DtmfIn
                | StreamStop
                | ProtocolError,
            )
