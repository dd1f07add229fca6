"""The simulated caller's wires against the relay's own protocol objects, both ends sans-I/O: what
each wire sends is what the carrier's protocol accepts, and what the protocol sends back is what
the wire understands (audio at the right length, markers, clears)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from liveguard.audio import mulaw
from liveguard.caller.wire import CARRIERS, make_wire
from liveguard.transports.carrier import AudioIn, DtmfIn, MarkPlayed, StreamStart, StreamStop
from liveguard.transports.exotel_protocol import ExotelAgentStream
from liveguard.transports.plivo_protocol import PlivoAudioStream
from liveguard.transports.telnyx_protocol import TelnyxMediaStream
from liveguard.transports.twilio_protocol import DtmfIn as TwilioDtmf
from liveguard.transports.twilio_protocol import MediaIn, TwilioMediaStream
from liveguard.transports.vonage_protocol import VonageWebSocket

PROTOS = {
    "twilio": TwilioMediaStream,
    "telnyx": TelnyxMediaStream,
    "plivo": PlivoAudioStream,
    "vonage": VonageWebSocket,
    "exotel": ExotelAgentStream,
}
VARIANTS = [
    ("twilio", None, ""),
    ("telnyx", None, ""),
    ("telnyx", 8000, "PCMA"),
    ("telnyx", 16000, "L16"),
    ("plivo", None, ""),
    ("plivo", 16000, "l16"),
    ("vonage", None, ""),
    ("vonage", 8000, ""),
    ("exotel", None, ""),
    ("exotel", 16000, ""),
]


@pytest.mark.parametrize(("carrier", "rate", "codec"), VARIANTS)
def test_wire_and_protocol_agree(carrier: str, rate: int | None, codec: str) -> None:
    wire = make_wire(carrier, {"scenario": "seed-2333"}, rate=rate, codec=codec)
    proto = PROTOS[carrier](**({"sample_rate": rate or 8000} if carrier == "exotel" else {}))
    items = [i for frame in wire.handshake() for i in proto.receive(frame)]
    (start,) = [i for i in items if isinstance(i, StreamStart)]
    assert start.custom_parameters.get("scenario") == "seed-2333"
    assert proto.rate == (rate or (16000 if carrier == "vonage" else 8000))
    # caller audio: 20 ms of μ-law becomes 20 ms of PCM at the stream's rate
    ulaw = mulaw.encode(b"\x10\x00" * 160)
    messages = [wire.media(ulaw, n) for n in range(1, 11)]  # 200 ms of 20 ms frames
    sent = [m for m in messages if m is not None]
    assert len(sent) == (2 if carrier == "exotel" else 10)  # Exotel streams 100 ms chunks
    items = [i for m in sent for i in proto.receive(m)]
    pcm = b"".join(mulaw.decode(i.payload) if isinstance(i, MediaIn) else i.pcm for i in items)
    assert all(isinstance(i, AudioIn | MediaIn) for i in items)
    assert len(pcm) == proto.rate // 5 * 2
    digit = proto.receive(wire.dtmf("7"))
    assert digit in ([DtmfIn("7")], [TwilioDtmf("7")])
    # model audio: the wire reads the protocol's messages back as audio, a marker, a clear
    model = b"\x00\x08" * (proto.rate // 5)  # 200 ms at the stream's rate
    out = proto.send_audio(mulaw.encode(model) if carrier == "twilio" else model)
    events = [e for frame in out for e in wire.parse(frame)]
    heard = b"".join(v for k, v in events if k == "audio")
    assert abs(len(heard) - 1600) <= 16  # 200 ms of μ-law 8 kHz (resampler edge aside)
    (mark,) = [v for k, v in events if k == "mark"]
    (played,) = proto.receive(wire.echo(mark))
    assert isinstance(played, MarkPlayed) and played.played_s == pytest.approx(0.2)
    frames, _ = proto.clear()
    frames = [frames] if isinstance(frames, str) else frames  # Twilio's is one message
    assert [e for f in frames for e in wire.parse(f)] == [("clear", None)]
    ack = wire.cleared()
    assert ack is None or proto.receive(ack) == []
    stop = wire.stop()
    if stop is None:  # hangs up by closing the socket
        assert wire.hangs_up_by_close and proto.connection_lost(clean=True) is None
    else:
        assert [type(i) for i in proto.receive(stop)] in ([StreamStop],)


def test_unknown_carrier_or_codec_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown carrier"):
        make_wire("sinch", {})
    with pytest.raises(ValueError, match="unsupported"):
        make_wire("telnyx", {}, codec="OPUS")
    assert set(CARRIERS) == set(PROTOS)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "liveguard",
            "call",
            "--carrier",
            "telnyx",
            "--codec",
            "G729",
            "--url",
            "ws://127.0.0.1:9/telnyx/stream",
            "--script",
            "quick",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "unsupported codec G729" in run.stderr
