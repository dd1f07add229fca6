"""The simulated caller's wire layer: how each carrier spells the same phone call.

Why separate: the simulated caller (simulated.py) plays a script, paces 20 ms frames, simulates
playout and measures what a caller hears; none of that depends on the carrier. What does is the
opening messages, how a frame of audio, a keypad digit, a hang-up and a marker echo are written,
and what the relay's messages mean. A `CallerWire` turns the caller's μ-law 8 kHz frames into the
carrier's messages and the relay's messages back into caller events:

  ("audio", μ-law 8 kHz bytes) · ("mark", name) · ("clear", None) · ("error", text)

Carriers: twilio (default), telnyx, plivo, vonage, exotel — each as its public documentation
describes it (see the protocol modules under liveguard/transports/ for the pages).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from liveguard.audio import mulaw
from liveguard.audio.resample import Resampler
from liveguard.transports.carrier import Codec, find_codec

Frame = str | bytes
Event = tuple[str, Any]
CARRIERS = ("twilio", "telnyx", "plivo", "vonage", "exotel")


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


class _Converter:
    """μ-law 8 kHz (the caller's own audio) ↔ a carrier codec at its rate, both ways stateful."""

    @classmethod
    def find(cls, kind: str, rate: int, rates: tuple[int, ...], unsupported: str) -> _Converter:
        """The converter for codec `kind` at `rate`; ValueError(`unsupported`) if it is none."""
        codec = find_codec(kind, rate, rates)
        if codec is None:
            raise ValueError(unsupported)
        return cls(codec)

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self._up = Resampler(8000, codec.rate) if codec.rate != 8000 else None
        self._down = Resampler(codec.rate, 8000) if codec.rate != 8000 else None

    def to_wire(self, ulaw: bytes) -> bytes:
        if self.codec.name == "pcmu" and self._up is None:
            return ulaw
        pcm = mulaw.decode(ulaw)
        if self._up is not None:
            pcm = self._up.process(pcm)
        return self.codec.encode(pcm)

    def from_wire(self, wire: bytes) -> bytes:
        if self.codec.name == "pcmu" and self._down is None:
            return wire
        pcm = self.codec.decode(wire[: len(wire) - len(wire) % self.codec.width])
        if self._down is not None:
            pcm = self._down.process(pcm)
        return mulaw.encode(pcm)


class CallerWire:
    """Twilio Media Streams (the default); other carriers override what differs."""

    carrier: ClassVar[str] = "twilio"
    clear_echoes_marks: ClassVar[bool] = True  # a clear answers every pending marker at once
    hangs_up_by_close: ClassVar[bool] = False  # no stop message: hanging up closes the socket
    seq_key: ClassVar[str] = "sequenceNumber"  # how the carrier names its message counter
    sid_key: ClassVar[str] = "streamSid"  # and the stream id in every message

    def __init__(self, parameters: dict[str, str], *, rate: int = 8000, codec: str = "") -> None:
        self.parameters = parameters
        self.stream_id = "MZ" + uuid.uuid4().hex
        self.call_id = "CA" + uuid.uuid4().hex
        self._seq = 0
        self.conv = _Converter.find("pcmu", 8000, (8000,), "")  # Twilio: μ-law as it is

    def connect_url(self, url: str) -> str:
        return url

    def _next(self) -> str | int:
        self._seq += 1
        return str(self._seq)

    def _msg(self, event: str, **fields: Any) -> str:
        """`{"event", the counter, the stream id, **fields}` as the carrier spells the keys."""
        return _dumps(
            {"event": event, self.seq_key: self._next(), self.sid_key: self.stream_id, **fields}
        )

    def handshake(self) -> list[Frame]:
        fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
        start = {
            "accountSid": "AC" + "0" * 32,
            "streamSid": self.stream_id,
            "callSid": self.call_id,
            "tracks": ["inbound"],
            "mediaFormat": fmt,
            "customParameters": self.parameters,
        }
        return [
            _dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
            self._msg("start", start=start),
        ]

    def media(self, ulaw: bytes, n: int) -> Frame | None:
        """One 20 ms frame of the caller's μ-law as the carrier's message (None: held for a
        bigger chunk)."""
        media = {
            "track": "inbound",
            "chunk": str(n),
            "timestamp": str(n * 20),
            "payload": base64.b64encode(ulaw).decode("ascii"),
        }
        return self._msg("media", media=media)

    def dtmf(self, digit: str) -> Frame:
        return self._msg("dtmf", dtmf={"track": "inbound_track", "digit": digit})

    def stop(self) -> Frame | None:
        return self._msg("stop", stop={"accountSid": "AC" + "0" * 32, "callSid": self.call_id})

    def echo(self, name: str) -> Frame:
        """The marker's echo, Twilio-style (Telnyx and Exotel spell it alike)."""
        return self._msg("mark", mark={"name": name})

    def cleared(self) -> Frame | None:
        """What the carrier answers to a clear besides the marker echoes (nothing for Twilio)."""
        return None

    # ---- relay -> caller

    def parse(self, data: str | bytes) -> list[Event]:
        if isinstance(data, bytes):
            return [("error", "relay sent a binary frame")]
        try:
            msg = json.loads(data)
        except ValueError:
            return [("error", "relay sent invalid JSON")]
        if not isinstance(msg, dict):
            return [("error", "relay sent a non-object")]
        return self._event(msg)

    def _event(self, msg: dict[str, Any]) -> list[Event]:
        event = msg.get("event")
        if event == "media":
            return self._b64_audio((msg.get("media") or {}).get("payload"))
        if event == "mark":
            return [("mark", (msg.get("mark") or {}).get("name"))]
        if event == "clear":
            return [("clear", None)]
        return [("error", f"relay sent an unexpected event {str(event)[:40]!r}")]

    def _b64_audio(self, payload: Any) -> list[Event]:
        try:
            return [("audio", self.conv.from_wire(base64.b64decode(payload, validate=True)))]
        except (TypeError, ValueError, binascii.Error):
            return [("error", "relay sent a bad media payload")]


class TelnyxWire(CallerWire):
    """Telnyx media streaming, bidirectional RTP (PCMU 8 kHz unless `codec`/`rate` say)."""

    carrier: ClassVar[str] = "telnyx"
    seq_key: ClassVar[str] = "sequence_number"
    sid_key: ClassVar[str] = "stream_id"
    _KINDS: ClassVar[dict[str, str]] = {"PCMU": "pcmu", "PCMA": "pcma", "L16": "l16be"}

    def __init__(self, parameters: dict[str, str], *, rate: int = 8000, codec: str = "") -> None:
        super().__init__(parameters)
        self.encoding = (codec or "PCMU").upper()
        self.conv = _Converter.find(
            self._KINDS.get(self.encoding, ""),
            rate,
            (8000, 16000),
            f"telnyx caller: unsupported codec {self.encoding}/{rate}",
        )
        self.stream_id = str(uuid.uuid4()).upper()
        self.call_id = "v3:" + uuid.uuid4().hex

    def handshake(self) -> list[Frame]:
        start = {
            "user_id": str(uuid.uuid4()),
            "call_control_id": self.call_id,
            "call_session_id": str(uuid.uuid4()),
            "from": "+15550100",
            "to": "+15550199",
            "custom_parameters": self.parameters,
            "media_format": {
                "encoding": self.encoding,
                "sample_rate": self.conv.codec.rate,
                "channels": 1,
            },
        }
        return [
            _dumps({"event": "connected", "version": "1.0.0"}),
            self._msg("start", start=start),
        ]

    def media(self, ulaw: bytes, n: int) -> Frame | None:
        payload = base64.b64encode(self.conv.to_wire(ulaw)).decode("ascii")
        media = {"track": "inbound", "chunk": str(n), "timestamp": str(n * 20), "payload": payload}
        return self._msg("media", media=media)

    def dtmf(self, digit: str) -> Frame:
        return self._msg("dtmf", dtmf={"digit": digit})

    def stop(self) -> Frame | None:
        return self._msg("stop", stop={"user_id": "", "call_control_id": self.call_id})


class PlivoWire(CallerWire):
    """Plivo audio streaming (μ-law 8 kHz unless `codec="l16"` and `rate` say)."""

    carrier: ClassVar[str] = "plivo"
    clear_echoes_marks: ClassVar[bool] = False  # cleared checkpoints are never played
    hangs_up_by_close: ClassVar[bool] = True
    sid_key: ClassVar[str] = "streamId"

    def __init__(self, parameters: dict[str, str], *, rate: int = 8000, codec: str = "") -> None:
        super().__init__(parameters)
        l16 = codec.lower() in ("l16", "audio/x-l16")
        self.content_type = "audio/x-l16" if l16 else "audio/x-mulaw"
        self.conv = _Converter.find(
            "l16" if l16 else "pcmu",
            rate,
            (8000, 16000) if l16 else (8000,),
            f"plivo caller: unsupported {self.content_type}/{rate}",
        )
        self.stream_id = str(uuid.uuid4())
        self.call_id = str(uuid.uuid4())

    def handshake(self) -> list[Frame]:
        start = {
            "callId": self.call_id,
            "streamId": self.stream_id,
            "accountId": "MA" + "0" * 18,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": self.content_type, "sampleRate": self.conv.codec.rate},
        }
        extra = ";".join(f"{k}={v}" for k, v in self.parameters.items())
        msg = {"event": "start", "sequenceNumber": self._next(), "start": start}
        return [_dumps({**msg, "extra_headers": extra})]

    def _next(self) -> str | int:
        self._seq += 1
        return self._seq  # Plivo numbers its messages with JSON numbers

    def media(self, ulaw: bytes, n: int) -> Frame | None:
        payload = base64.b64encode(self.conv.to_wire(ulaw)).decode("ascii")
        media = {"track": "inbound", "timestamp": str(n * 20), "chunk": n, "payload": payload}
        return self._msg("media", media=media)

    def dtmf(self, digit: str) -> Frame:
        return self._msg("dtmf", dtmf={"track": "inbound", "digit": digit, "timestamp": "0"})

    def stop(self) -> Frame | None:
        return None

    def echo(self, name: str) -> Frame:
        return self._msg("playedStream", name=name)

    def cleared(self) -> Frame | None:
        return self._msg("clearedAudio")

    def _event(self, msg: dict[str, Any]) -> list[Event]:
        event = msg.get("event")
        if event == "playAudio":
            return self._b64_audio((msg.get("media") or {}).get("payload"))
        if event == "checkpoint":
            return [("mark", msg.get("name"))]
        if event == "clearAudio":
            return [("clear", None)]
        return [("error", f"relay sent an unexpected event {str(event)[:40]!r}")]


class ExotelWire(CallerWire):
    """Exotel AgentStream: PCM16 at 8 kHz, or 16/24 kHz by `?sample-rate=` on the URL; caller
    audio in ~100 ms chunks, as Exotel streams it (`chunk_frames` 20 ms frames per message)."""

    carrier: ClassVar[str] = "exotel"
    seq_key: ClassVar[str] = "sequence_number"
    sid_key: ClassVar[str] = "stream_sid"

    def __init__(
        self,
        parameters: dict[str, str],
        *,
        rate: int = 8000,
        codec: str = "",
        chunk_frames: int = 5,
    ) -> None:
        super().__init__(parameters)
        self.conv = _Converter.find(
            "l16", rate, (8000, 16000, 24000), f"exotel caller: unsupported sample rate {rate}"
        )
        self.chunk_frames = chunk_frames
        self._held: list[bytes] = []
        self._chunks = 0

    def connect_url(self, url: str) -> str:
        parts = urlsplit(url)
        query = {"sample-rate": str(self.conv.codec.rate), **self.parameters}
        extra = urlencode(query)
        return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))

    def handshake(self) -> list[Frame]:
        start = {
            "stream_sid": self.stream_id,
            "call_sid": self.call_id,
            "account_sid": "exotel-test",
            "from": "+919800000000",
            "to": "+918000000000",
            "custom_parameters": self.parameters,
            "media_format": {
                "encoding": "audio/x-raw",
                "sample_rate": str(self.conv.codec.rate),
                "bit_rate": "16",
            },
        }
        return [_dumps({"event": "connected"}), self._msg("start", start=start)]

    def media(self, ulaw: bytes, n: int) -> Frame | None:
        self._held.append(self.conv.to_wire(ulaw))
        if len(self._held) < self.chunk_frames:
            return None
        wire, self._held = b"".join(self._held), []
        self._chunks += 1
        payload = base64.b64encode(wire).decode("ascii")
        media = {"chunk": str(self._chunks), "timestamp": str(n * 20), "payload": payload}
        return self._msg("media", media=media)

    def dtmf(self, digit: str) -> Frame:
        return self._msg("dtmf", dtmf={"digit": digit, "duration": "100"})

    def stop(self) -> Frame | None:
        stop = {"call_sid": self.call_id, "account_sid": "exotel-test", "reason": "callended"}
        return self._msg("stop", stop=stop)


class VonageWire(CallerWire):
    """Vonage Voice WebSocket: `websocket:connected`, then binary 20 ms PCM16 both ways."""

    carrier: ClassVar[str] = "vonage"
    clear_echoes_marks: ClassVar[bool] = False
    hangs_up_by_close: ClassVar[bool] = True

    def __init__(self, parameters: dict[str, str], *, rate: int = 16000, codec: str = "") -> None:
        super().__init__(parameters)
        self.conv = _Converter.find(
            "l16", rate, (8000, 16000), f"vonage caller: unsupported rate {rate}"
        )
        self.call_id = str(uuid.uuid4())

    def handshake(self) -> list[Frame]:
        rate = self.conv.codec.rate
        headers = {"uuid": self.call_id, **self.parameters}
        return [
            _dumps(
                {
                    "event": "websocket:connected",
                    "content-type": f"audio/l16;rate={rate}",
                    **headers,
                }
            )
        ]

    def media(self, ulaw: bytes, n: int) -> Frame | None:
        wire = self.conv.to_wire(ulaw)
        size = self.conv.codec.frame_bytes
        if len(wire) != size:  # the resampler's first output can be a few samples short
            wire = (wire + bytes(size))[:size]
        return wire

    def dtmf(self, digit: str) -> Frame:
        return _dumps({"event": "websocket:dtmf", "digit": digit, "duration": 250})

    def stop(self) -> Frame | None:
        return None

    def echo(self, name: str) -> Frame:
        return _dumps({"event": "websocket:notify", "payload": {"name": name}})

    def cleared(self) -> Frame | None:
        return _dumps({"event": "websocket:cleared"})

    def parse(self, data: str | bytes) -> list[Event]:
        if isinstance(data, bytes):
            if len(data) != self.conv.codec.frame_bytes:
                return [("error", f"relay sent a {len(data)}-byte audio frame")]
            return [("audio", self.conv.from_wire(data))]
        return super().parse(data)

    def _event(self, msg: dict[str, Any]) -> list[Event]:
        action = msg.get("action")
        if action == "notify":
            return [("mark", (msg.get("payload") or {}).get("name"))]
        if action == "clear":
            return [("clear", None)]
        return [("error", f"relay sent an unexpected message {str(action)[:40]!r}")]


WIRES: dict[str, type[CallerWire]] = {
    "twilio": CallerWire,
    "telnyx": TelnyxWire,
    "plivo": PlivoWire,
    "vonage": VonageWire,
    "exotel": ExotelWire,
}


def make_wire(
    carrier: str, parameters: dict[str, str], *, rate: int | None = None, codec: str = ""
) -> CallerWire:
    """The wire for `carrier` (ValueError for an unknown one or an unsupported codec/rate)."""
    cls = WIRES.get(carrier)
    if cls is None:
        raise ValueError(f"unknown carrier {carrier!r} (one of {', '.join(CARRIERS)})")
    if rate is None:
        return cls(parameters, codec=codec)
    return cls(parameters, rate=rate, codec=codec)
