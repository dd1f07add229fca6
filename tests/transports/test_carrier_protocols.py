"""The carriers' sans-I/O protocol objects: their documented messages in, typed items out; model
audio in, their documented messages out; every kind of bad input a clear error; fuzzed."""

from __future__ import annotations

import base64
import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from json_strategies import event_messages, json_values
from liveguard.audio import alaw, mulaw
from liveguard.transports.carrier import (
    AudioIn,
    Connected,
    DtmfIn,
    MarkPlayed,
    ProtocolError,
    StreamStart,
    StreamStop,
)
from liveguard.transports.exotel_protocol import ExotelAgentStream
from liveguard.transports.plivo_protocol import PlivoAudioStream, parse_extra_headers
from liveguard.transports.telnyx_protocol import TelnyxMediaStream
from liveguard.transports.vonage_protocol import VonageWebSocket

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # reference only

ITEM_TYPES = (AudioIn, Connected, DtmfIn, MarkPlayed, ProtocolError, StreamStart, StreamStop)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tone(rate: int, seconds: float, hz: float = 440.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype("<i2").tobytes()


def errors(items: list) -> list[ProtocolError]:
    return [i for i in items if isinstance(i, ProtocolError)]


# --------------------------------------------------------------------------- codecs


def test_alaw_is_bit_exact_with_audioop() -> None:
    codes = bytes(range(256))
    assert alaw.decode(codes) == audioop.alaw2lin(codes, 2)
    pcm = np.arange(-32768, 32768, dtype="<i2").tobytes()
    assert alaw.encode(pcm) == audioop.lin2alaw(pcm, 2)
    with pytest.raises(ValueError):
        alaw.encode(b"\x00")


# --------------------------------------------------------------------------- Telnyx


def telnyx_start(encoding: str = "PCMU", rate: int = 8000, sid: str = "S1") -> str:
    fmt = {"encoding": encoding, "sample_rate": rate, "channels": 1}
    start = {"call_control_id": "v3:c", "custom_parameters": {"scenario": "x"}, "media_format": fmt}
    return json.dumps({"event": "start", "sequence_number": "1", "stream_id": sid, "start": start})


def telnyx_media(payload: bytes, chunk: int | None = None, sid: str = "S1") -> str:
    media: dict = {"track": "inbound", "payload": b64(payload)}
    if chunk is not None:
        media["chunk"] = str(chunk)
    return json.dumps({"event": "media", "stream_id": sid, "media": media})


def started_telnyx(encoding: str = "PCMU", rate: int = 8000) -> TelnyxMediaStream:
    p = TelnyxMediaStream()
    assert p.receive(json.dumps({"event": "connected", "version": "1.0.0"})) == [
        Connected("telnyx", "1.0.0")
    ]
    (start,) = p.receive(telnyx_start(encoding, rate))
    assert isinstance(start, StreamStart) and start.custom_parameters == {"scenario": "x"}
    return p


def test_telnyx_pcmu_call_marks_clear_dtmf_and_stop() -> None:
    p = started_telnyx()
    ulaw = mulaw.encode(tone(8000, 0.02))
    (audio,) = p.receive(telnyx_media(ulaw))
    assert audio == AudioIn(mulaw.decode(ulaw)) and p.rate == 8000
    # model audio: whole 20 ms frames, then a mark; the remainder waits
    out = p.send_audio(tone(8000, 0.05))
    media, mark = (json.loads(m) for m in out)
    assert media["event"] == "media" and media["stream_id"] == "S1"
    assert len(base64.b64decode(media["media"]["payload"])) == 320  # 2 frames of μ-law
    assert mark == {"event": "mark", "stream_id": "S1", "mark": {"name": "c1"}}
    (played,) = p.receive(json.dumps({"event": "mark", "stream_id": "S1", "mark": {"name": "c1"}}))
    assert isinstance(played, MarkPlayed) and played.played_s == pytest.approx(0.04)
    tail = [json.loads(m) for m in p.flush()]
    assert [m["event"] for m in tail] == ["media", "mark"] and tail[1]["mark"]["name"] == "t2"
    # barge-in: clear; the queued mark's echo comes back as cleared
    frames, unplayed = p.clear()
    assert json.loads(frames[0]) == {"event": "clear", "stream_id": "S1"}
    assert unplayed == pytest.approx(0.02)
    (echo,) = p.receive(json.dumps({"event": "mark", "stream_id": "S1", "mark": {"name": "t2"}}))
    assert echo.cleared and echo.turn_end
    assert p.receive(json.dumps({"event": "dtmf", "stream_id": "S1", "dtmf": {"digit": "#"}})) == [
        DtmfIn("#")
    ]
    assert p.receive(json.dumps({"event": "stop", "stream_id": "S1", "stop": {}})) == [StreamStop()]
    assert p.connection_lost() is None


@pytest.mark.parametrize(
    ("encoding", "rate", "decode", "encode"),
    [
        ("PCMA", 8000, alaw.decode, alaw.encode),
        ("L16", 16000, lambda b: audioop.byteswap(b, 2), lambda b: audioop.byteswap(b, 2)),
    ],
)
def test_telnyx_other_codecs(encoding, rate, decode, encode) -> None:
    p = started_telnyx(encoding, rate)
    pcm = tone(rate, 0.02)
    (audio,) = p.receive(telnyx_media(encode(pcm)))
    assert audio.pcm == decode(encode(pcm)) and p.rate == rate
    media = json.loads(p.send_audio(pcm)[0])
    assert base64.b64decode(media["media"]["payload"]) == encode(pcm)


def test_telnyx_reorders_chunks_within_a_window() -> None:
    p = started_telnyx()
    frames = [bytes([i]) * 160 for i in range(10)]
    got: list[bytes] = []
    for chunk in (1, 3, 2, 4, 4, 2, 9, 6, 7, 8, 10):  # late duplicate, a lost chunk 5
        got += [mulaw.encode(i.pcm) for i in p.receive(telnyx_media(frames[chunk - 1], chunk))]
    assert [g[0] for g in got] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert p.late_chunks == 2 and p.skipped_chunks == 1


def test_telnyx_bad_input_continues_or_ends_the_call() -> None:
    p = TelnyxMediaStream()
    assert "before the stream started" in errors(p.receive(telnyx_media(b"\xff" * 160)))[0].reason
    (bad,) = TelnyxMediaStream().receive(telnyx_start("OPUS", 48000))
    assert bad.fatal and "unsupported media format OPUS" in bad.reason
    p = started_telnyx()
    cases = {
        json.dumps({"event": "nope"}): "unknown event 'nope'",
        telnyx_media(b"\xff" * 160, sid="OTHER"): "another stream 'OTHER'",
        json.dumps({"event": "media", "stream_id": "S1", "media": {"payload": "!!"}}): "base64",
        "{not json": "invalid JSON",
        json.dumps([1]): "not a JSON object",
        json.dumps({"event": "mark", "mark": {"name": "zz"}}): "never sent",
        json.dumps({"event": "dtmf", "dtmf": {"digit": "55"}}): "invalid digit",
        json.dumps({"event": "error", "payload": {"code": 1}}): "Telnyx reported an error",
        telnyx_start(): "duplicate 'start'",
        "x" * 70000: "exceeds",
    }
    for message, reason in cases.items():
        (err,) = p.receive(message)
        assert isinstance(err, ProtocolError) and not err.fatal and reason in err.reason, err
        assert err.reason.startswith("telnyx: ")
    (err,) = p.receive(b"\x00" * 160)
    assert "binary frame" in err.reason
    assert p.state == "started"  # none of that ended the call
    p.max_errors = p.errors + 1
    assert errors(p.receive("{"))[-1].fatal  # but too many do
    assert TelnyxMediaStream().connection_lost() == StreamStop("dropped")


# --------------------------------------------------------------------------- Plivo


def plivo_start(encoding: str = "audio/x-mulaw", rate: int = 8000) -> str:
    start = {
        "callId": "c",
        "streamId": "P1",
        "accountId": "MA",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": encoding, "sampleRate": rate},
    }
    return json.dumps(
        {"event": "start", "sequenceNumber": 1, "start": start, "extra_headers": "a=1;scenario=s"}
    )


def test_plivo_every_content_type_checkpoints_and_clear() -> None:
    for encoding, rate in (("audio/x-mulaw", 8000), ("audio/x-l16", 8000), ("audio/x-l16", 16000)):
        p = PlivoAudioStream()
        (start,) = p.receive(plivo_start(encoding, rate))
        assert start.custom_parameters == {"a": "1", "scenario": "s"} and p.rate == rate
        pcm = tone(rate, 0.02)
        wire = mulaw.encode(pcm) if encoding == "audio/x-mulaw" else pcm
        media = {"track": "inbound", "payload": b64(wire)}
        (audio,) = p.receive(json.dumps({"event": "media", "streamId": "P1", "media": media}))
        assert len(audio.pcm) == len(pcm)
        play, checkpoint = (json.loads(m) for m in p.send_audio(pcm))
        assert play["event"] == "playAudio"
        assert play["media"]["contentType"] == encoding and play["media"]["sampleRate"] == rate
        assert checkpoint == {"event": "checkpoint", "streamId": "P1", "name": "c1"}
        (played,) = p.receive(json.dumps({"event": "playedStream", "streamId": "P1", "name": "c1"}))
        assert played.played_s == pytest.approx(0.02)
        p.send_audio(pcm)
        frames, unplayed = p.clear()
        assert json.loads(frames[0]) == {"event": "clearAudio", "streamId": "P1"}
        assert unplayed == pytest.approx(0.02)
        assert p.receive(json.dumps({"event": "clearedAudio", "streamId": "P1"})) == []
    assert parse_extra_headers("x=1,y=2") == {"x": "1", "y": "2"}
    # Plivo has no stop message: a clean close is a hang-up, an unclean one a drop
    assert p.connection_lost(clean=True) is None and p.stop_reason == "stop"


def test_plivo_bad_input() -> None:
    (bad,) = PlivoAudioStream().receive(plivo_start("audio/x-l16", 24000))
    assert bad.fatal and "unsupported" in bad.reason
    p = PlivoAudioStream()
    p.receive(plivo_start("audio/x-l16", 8000))
    odd = {"event": "media", "streamId": "P1", "media": {"payload": b64(b"\x00" * 3)}}
    assert "whole 2-byte samples" in p.receive(json.dumps(odd))[0].reason
    other = {"event": "media", "streamId": "P2", "media": {"payload": b64(b"\x00" * 4)}}
    assert "another stream" in p.receive(json.dumps(other))[0].reason
    assert "unknown event" in p.receive(json.dumps({"event": "playAudio"}))[0].reason
    assert "binary frame" in p.receive(b"{}")[0].reason
    assert p.state == "started"


# --------------------------------------------------------------------------- Vonage


def vonage_connected(rate: int = 16000) -> str:
    return json.dumps(
        {
            "event": "websocket:connected",
            "content-type": f"audio/l16;rate={rate}",
            "uuid": "u1",
            "scenario": "s",
        }
    )


@pytest.mark.parametrize("rate", [16000, 8000])
def test_vonage_binary_frames_notify_clear_dtmf(rate: int) -> None:
    p = VonageWebSocket()
    connected, start = p.receive(vonage_connected(rate))
    assert isinstance(connected, Connected) and start.custom_parameters["scenario"] == "s"
    size = rate // 50 * 2
    assert size == (640 if rate == 16000 else 320)
    (audio,) = p.receive(b"\x01\x00" * (size // 2))
    assert audio.pcm == b"\x01\x00" * (size // 2)
    for wrong in (b"\x00" * (size - 2), b"\x00" * (size * 2), b""):
        (err,) = p.receive(wrong)
        assert not err.fatal and f"binary frame of {len(wrong)} bytes" in err.reason
    out = p.send_audio(tone(rate, 0.05))
    assert [len(f) for f in out[:-1]] == [size, size]  # exactly 20 ms each, binary
    assert json.loads(out[-1]) == {"action": "notify", "payload": {"name": "c1"}}
    (played,) = p.receive(json.dumps({"event": "websocket:notify", "payload": {"name": "c1"}}))
    assert played.played_s == pytest.approx(0.04)
    frames, _ = p.clear()
    assert frames == ['{"action":"clear"}']
    assert p.receive(json.dumps({"event": "websocket:cleared"})) == []
    assert p.receive(json.dumps({"event": "websocket:dtmf", "digit": "7", "duration": 250})) == [
        DtmfIn("7")
    ]


def test_vonage_bad_input() -> None:
    p = VonageWebSocket()
    assert "before the stream started" in p.receive(b"\x00" * 640)[0].reason
    (bad,) = VonageWebSocket().receive(
        json.dumps({"event": "websocket:connected", "content-type": "audio/l16;rate=44100"})
    )
    assert bad.fatal
    p.receive(vonage_connected())
    assert "duplicate" in p.receive(vonage_connected())[0].reason
    assert "unknown event" in p.receive(json.dumps({"event": "websocket:hmm"}))[0].reason
    assert p.connection_lost(clean=False) == StreamStop("dropped")


# --------------------------------------------------------------------------- Exotel


def exotel_start(rate: str = "8000") -> str:
    fmt = {"encoding": "audio/x-raw", "sample_rate": rate, "bit_rate": "16"}
    start = {
        "stream_sid": "E1",
        "call_sid": "c",
        "custom_parameters": {"k": "v"},
        "media_format": fmt,
    }
    return json.dumps(
        {"event": "start", "sequence_number": "1", "stream_sid": "E1", "start": start}
    )


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
def test_exotel_chunks_are_100ms_multiples_of_320_bytes(rate: int) -> None:
    p = ExotelAgentStream(sample_rate=rate, parameters={"scenario": "s"})
    assert p.receive(json.dumps({"event": "connected"})) == [Connected("exotel", "")]
    (start,) = p.receive(exotel_start(str(rate)))
    assert start.custom_parameters == {"scenario": "s", "k": "v"} and p.rate == rate
    pcm = tone(rate, 0.1)
    media = {"chunk": "1", "timestamp": "100", "payload": b64(pcm)}
    (audio,) = p.receive(json.dumps({"event": "media", "stream_sid": "E1", "media": media}))
    assert audio.pcm == pcm
    assert p.send_audio(tone(rate, 0.06)) == []  # under 100 ms: held back
    out = [json.loads(m) for m in p.send_audio(tone(rate, 0.05))]
    chunk = base64.b64decode(out[0]["media"]["payload"])
    assert len(chunk) % 320 == 0 and len(chunk) >= rate // 10 * 2
    assert out[1] == {"event": "mark", "stream_sid": "E1", "mark": {"name": "c1"}}
    tail = [json.loads(m) for m in p.flush()]
    assert len(base64.b64decode(tail[0]["media"]["payload"])) % 320 == 0
    frames, _ = p.clear()
    assert json.loads(frames[0]) == {"event": "clear", "stream_sid": "E1"}
    dtmf = {"event": "dtmf", "stream_sid": "E1", "dtmf": {"digit": "5", "duration": "100"}}
    assert p.receive(json.dumps(dtmf)) == [DtmfIn("5")]
    stop = {"event": "stop", "stream_sid": "E1", "stop": {"reason": "callended"}}
    assert p.receive(json.dumps(stop)) == [StreamStop("callended")]


def test_exotel_bad_input() -> None:
    (bad,) = ExotelAgentStream().receive(exotel_start("44100"))
    assert bad.fatal and "unsupported" in bad.reason
    p = ExotelAgentStream()
    p.receive(exotel_start())
    odd = {"event": "media", "stream_sid": "E1", "media": {"payload": b64(b"\x00" * 321)}}
    assert "whole 2-byte samples" in p.receive(json.dumps(odd))[0].reason
    other = {"event": "mark", "stream_sid": "E9", "mark": {"name": "c1"}}
    assert "another stream 'E9'" in p.receive(json.dumps(other))[0].reason
    assert p.state == "started"


# --------------------------------------------------------------------------- fuzz

PROTOCOLS = {
    "telnyx": (TelnyxMediaStream, telnyx_start()),
    "plivo": (PlivoAudioStream, plivo_start()),
    "vonage": (VonageWebSocket, vonage_connected()),
    "exotel": (ExotelAgentStream, exotel_start()),
}
_events = [
    "start",
    "media",
    "mark",
    "dtmf",
    "stop",
    "connected",
    "playedStream",
    "clearedAudio",
    "websocket:connected",
    "websocket:notify",
    "websocket:dtmf",
    "error",
    "x",
]
_keys = [
    "media",
    "mark",
    "dtmf",
    "start",
    "stream_id",
    "streamId",
    "stream_sid",
    "payload",
    "name",
    "digit",
    "content-type",
]
_messages = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=1400),
    event_messages(_events, _keys, json_values(), max_keys=4),
)


@pytest.mark.parametrize("carrier", sorted(PROTOCOLS))
@settings(max_examples=150, deadline=None)
@given(messages=st.lists(_messages, max_size=12), start_first=st.booleans())
def test_fuzz_never_raises_and_yields_only_typed_items(carrier, messages, start_first) -> None:
    cls, start = PROTOCOLS[carrier]
    p = cls(max_errors=1000)
    feed = ([start] if start_first else []) + messages
    for message in feed:
        items = p.receive(message)
        assert isinstance(items, list)
        assert all(isinstance(i, ITEM_TYPES) for i in items), items
    # outbound never raises either, whatever state the stream is in
    p.send_audio(tone(p.rate, 0.03))
    p.flush()
    frames, unplayed = p.clear()
    assert unplayed >= 0 and isinstance(frames, list)
