"""What every carrier's media stream shares, sans-I/O: codecs, playout marks, framing, bad input.

Why one base: Telnyx, Plivo, Vonage and Exotel differ from Twilio (and each other) only in message
names, field spellings, encodings and framing. The rules that keep a call honest are the same for
all of them and live here once:

- caller audio is decoded to PCM16 at the stream's rate (`AudioIn`), whatever the wire codec;
- model audio is encoded and cut into whole 20 ms frames (a carrier may ask for bigger chunks);
- every chunk of model audio is followed by the carrier's playout marker, whose echo says the
  caller heard it (`PlayoutTracker`), and a barge-in becomes the carrier's clear, after which the
  echoes of cleared markers (if the carrier sends them) are recognised and ignored;
- bad input never raises: it yields a `ProtocolError` (fatal ones end that call only), and too
  many non-fatal ones end the call too; every buffer is bounded.

The inbound message types are Twilio's (stream_items.py: `StreamStart`, `MarkPlayed`, `DtmfIn`,
`StreamStop`, `ProtocolError`, `Connected`) plus `AudioIn`, so the guard-facing handler
(`carrier_call.py`) is one for all carriers. `CarrierProtocol` is the shape that handler needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from liveguard.audio import alaw, mulaw
from liveguard.transports.framing import FrameChunker
from liveguard.transports.json_wire import b64_payload, json_object
from liveguard.transports.playout import PlayoutTracker
from liveguard.transports.stream_items import (
    Connected,
    DtmfIn,
    MarkPlayed,
    ProtocolError,
    StreamStart,
    StreamStop,
)

__all__ = [
    "AudioIn",
    "CarrierProtocol",
    "CarrierStream",
    "Codec",
    "Connected",
    "DtmfIn",
    "InboundItem",
    "MarkPlayed",
    "MediaOut",
    "PlayoutTracker",
    "ProtocolError",
    "StreamStart",
    "StreamStop",
    "find_codec",
]

DTMF_DIGITS = frozenset("0123456789*#ABCDabcd")


@dataclass(frozen=True, slots=True)
class AudioIn:
    """Caller audio, decoded: PCM16 little-endian at the stream's `rate`."""

    pcm: bytes


InboundItem = Connected | StreamStart | AudioIn | MarkPlayed | DtmfIn | StreamStop | ProtocolError
Frame = str | bytes  # a WebSocket text or binary message


# --------------------------------------------------------------------------- codecs


def _swap16(data: bytes) -> bytes:
    """Swap the bytes of every 16-bit sample (RTP L16 is big-endian, we work little-endian)."""
    out = bytearray(len(data))
    out[0::2] = data[1::2]
    out[1::2] = data[0::2]
    return bytes(out)


def _identity(data: bytes) -> bytes:
    return data


@dataclass(frozen=True, slots=True)
class Codec:
    """A wire encoding at one rate: `decode` to PCM16 LE, `encode` from it."""

    name: str
    rate: int
    width: int  # wire bytes per sample
    decode: Callable[[bytes], bytes]
    encode: Callable[[bytes], bytes]
    silence: bytes  # one sample of silence on the wire

    @property
    def frame_bytes(self) -> int:
        """Wire bytes in 20 ms."""
        return self.rate // 50 * self.width


_CODECS: dict[str, tuple[int, Callable[[bytes], bytes], Callable[[bytes], bytes], bytes]] = {
    "pcmu": (1, mulaw.decode, mulaw.encode, b"\xff"),
    "pcma": (1, alaw.decode, alaw.encode, b"\xd5"),
    "l16": (2, _identity, _identity, b"\x00\x00"),  # little-endian PCM16
    "l16be": (2, _swap16, _swap16, b"\x00\x00"),  # RTP L16 (RFC 3551: network byte order)
}


def find_codec(kind: str, rate: int, rates: Sequence[int]) -> Codec | None:
    """The codec `kind` ("pcmu", "pcma", "l16", "l16be") at `rate`, if `rate` is in `rates`."""
    spec = _CODECS.get(kind)
    if spec is None or rate not in rates:
        return None
    width, dec, enc, silence = spec
    return Codec(kind, rate, width, dec, enc, silence)


# --------------------------------------------------------------------------- the shape


class CarrierProtocol(Protocol):
    """What `carrier_call.CarrierCall` needs from a carrier's sans-I/O protocol object."""

    carrier: ClassVar[str]
    start: StreamStart | None
    state: str

    @property
    def rate(self) -> int: ...
    @property
    def unplayed_s(self) -> float: ...
    def receive(self, data: str | bytes) -> list[InboundItem]: ...
    def connection_lost(self, clean: bool = False) -> StreamStop | None: ...
    def send_audio(self, pcm16: bytes, *, mark: bool = True) -> list[Frame]: ...
    def flush(self) -> list[Frame]: ...
    def clear(self) -> tuple[list[Frame], float]: ...


# --------------------------------------------------------------------------- outbound


class MediaOut:
    """Model audio out, shared by `CarrierStream` and Twilio's protocol: whole frames through the
    codec, a playout marker after each chunk, the turn's padded tail, and the clear on a barge-in.

    The class using it sets `state`, `codec` (None until the stream's format is known),
    `playout`, `frames_out` and `_chunks`, and spells the messages (`_media_frames`,
    `_mark_frame`, `_clear_frames`).
    """

    min_chunk_frames: ClassVar[int] = 1  # model audio goes out in chunks of at least this many
    state: str
    codec: Codec | None
    playout: PlayoutTracker
    frames_out: int
    _chunks: FrameChunker | None

    @property
    def unplayed_s(self) -> float:
        return self.playout.unplayed_s

    @property
    def played_s(self) -> float:
        return self.playout.played_s

    def send_audio(self, pcm16: bytes, *, mark: bool = True) -> list[Frame]:
        """Model audio (PCM16 at `rate`) as the carrier's media messages, whole chunks only (the
        rest waits for more audio), then a marker unless `mark` is False."""
        if self.state != "started" or not pcm16 or self.codec is None:
            return []
        whole = self._chunker(self.codec).push(self.codec.encode(pcm16))
        if not whole:
            return []
        out = self._media(whole)
        if mark and out:
            out.append(self._mark_frame(self.playout.mark()))
        return out

    def flush(self) -> list[Frame]:
        """End of a model turn: the partial chunk padded with silence, and a turn-end marker."""
        if self.state != "started" or self.codec is None:
            return []
        out: list[Frame] = []
        tail = self._chunker(self.codec).tail()
        if tail:
            out += self._media(tail)
        if self.playout.has_unmarked:
            out.append(self._mark_frame(self.playout.mark("t")))
        return out

    def clear(self) -> tuple[list[Frame], float]:
        """A real barge-in: the carrier's clear, and the seconds the caller will not hear."""
        dropped = self._chunks.drop() if self._chunks else 0
        carry_s = dropped / (self.codec.width * self.codec.rate) if self.codec else 0.0
        unplayed = self.playout.clear(carry_s)
        return self._clear_frames(), unplayed

    def _chunker(self, codec: Codec) -> FrameChunker:
        if self._chunks is None:
            self._chunks = FrameChunker(codec.frame_bytes, codec.silence, self.min_chunk_frames)
        return self._chunks

    def _media(self, wire: bytes) -> list[Frame]:
        assert self.codec is not None
        self.frames_out += -(-len(wire) // self.codec.frame_bytes)
        self.playout.sent(len(wire) / (self.codec.width * self.codec.rate))
        return self._media_frames(wire)

    def _media_frames(self, wire: bytes) -> list[Frame]:
        raise NotImplementedError

    def _mark_frame(self, name: str) -> Frame:
        raise NotImplementedError

    def _clear_frames(self) -> list[Frame]:
        raise NotImplementedError


# --------------------------------------------------------------------------- the base


class CarrierStream(MediaOut):
    """One carrier media-stream connection's protocol state (subclassed per carrier).

    A subclass parses (`_receive`) and spells the outbound messages (`_media_frames`,
    `_mark_frame`, `_clear_frames`); errors and bounds are here, framing and markers in
    `MediaOut`.
    States: "new" → "started" → "stopped".
    """

    carrier: ClassVar[str] = "carrier"
    hangs_up_by_close: ClassVar[bool] = False  # no `stop` message: a clean close is a hang-up

    def __init__(self, *, max_message_bytes: int = 65536, max_errors: int = 50) -> None:
        self.max_message_bytes = max_message_bytes
        self.max_errors = max_errors
        self.state = "new"
        self.start: StreamStart | None = None
        self.codec: Codec | None = None
        self.errors = 0
        self.frames_in = 0
        self.frames_out = 0
        self.stop_reason: str | None = None
        self.playout = PlayoutTracker()
        self._chunks: FrameChunker | None = None  # made with the codec, on the first audio

    # ------------------------------------------------------------------ inbound

    @property
    def rate(self) -> int:
        return self.codec.rate if self.codec else 8000

    @property
    def stream_id(self) -> str:
        return self.start.stream_sid if self.start else ""

    def receive(self, data: str | bytes) -> list[InboundItem]:
        """Parse one WebSocket message; never raises."""
        try:
            if len(data) > self.max_message_bytes:
                return self._error(f"message of {len(data)} bytes exceeds {self.max_message_bytes}")
            return self._receive(data)
        except Exception as exc:  # a parser bug must not take the call down silently
            return self._error(f"unparseable message: {type(exc).__name__}: {str(exc)[:80]}")

    def _receive(self, data: str | bytes) -> list[InboundItem]:
        raise NotImplementedError

    def _error(self, reason: str, fatal: bool = False) -> list[InboundItem]:
        self.errors += 1
        out: list[InboundItem] = [ProtocolError(f"{self.carrier}: {reason}", fatal)]
        if not fatal and self.errors >= self.max_errors:
            out.append(ProtocolError(f"{self.carrier}: too many bad messages", fatal=True))
        return out

    def _json(self, data: str | bytes, what: str) -> dict[str, Any] | list[InboundItem]:
        """`data` as a JSON object, or the error list (binary where text is expected, bad JSON)."""
        msg = json_object(data, f"{what} are JSON text frames")
        return self._error(msg) if isinstance(msg, str) else msg

    def _started(self, event: str) -> list[InboundItem] | None:
        if self.state == "started":
            return None
        where = "before the stream started" if self.state == "new" else "after the stream stopped"
        return self._error(f"{event!r} {where}")

    def _audio(self, wire: bytes) -> list[InboundItem]:
        """Caller audio on the wire → `AudioIn` (whole samples only)."""
        assert self.codec is not None
        if not wire:
            return []
        if len(wire) % self.codec.width:
            return self._error(
                f"audio of {len(wire)} bytes is not whole {self.codec.width}-byte samples"
            )
        self.frames_in += 1
        return [AudioIn(self.codec.decode(wire))]

    def _payload(self, media: Any, *, inbound_tracks: tuple[str, ...] = ("inbound",)) -> Any:
        """A JSON `media` object's base64 `payload` as wire bytes; an error list when bad;
        an empty list for another track's audio (our own audio echoed back: not the caller)."""
        if not isinstance(media, dict):
            return self._error("'media' without a media object")
        track = media.get("track")
        if track is not None and track not in inbound_tracks:
            return []
        wire = b64_payload(media)
        return self._error(wire) if isinstance(wire, str) else wire

    def _sid_matches(self, msg: dict[str, Any], key: str, event: str) -> list[InboundItem] | None:
        """An error when the message names another stream than ours (absent is fine)."""
        sid = msg.get(key)
        if sid is not None and sid != self.stream_id:
            return self._error(f"{event!r} for another stream {str(sid)[:40]!r}")
        return None

    def _dtmf(self, digit: Any) -> list[InboundItem]:
        if not isinstance(digit, str) or len(digit) != 1 or digit not in DTMF_DIGITS:
            return self._error(f"dtmf with an invalid digit {str(digit)[:10]!r}")
        return [DtmfIn(digit)]

    def _echo(self, name: Any) -> list[InboundItem]:
        if not isinstance(name, str):
            return self._error("playout marker echo without a name")
        played = self.playout.echoed(name)
        if played is None:
            return self._error(f"echo of a marker we never sent: {name[:40]!r}")
        return [played]

    def _stop(self, reason: str = "stop") -> list[InboundItem]:
        bad = self._started("stop")
        if bad is not None:
            return bad
        self.state = "stopped"
        self.stop_reason = reason
        return [StreamStop(reason)]

    def connection_lost(self, clean: bool = False) -> StreamStop | None:
        """The socket closed. A hang-up for carriers without a stop message when `clean`; else a
        stop with reason "dropped". None if the stream had already stopped."""
        if self.state == "stopped":
            return None
        if clean and self.hangs_up_by_close and self.state == "started":
            self.state = "stopped"
            self.stop_reason = "stop"
            return None
        self.state = "stopped"
        self.stop_reason = "dropped"
        return StreamStop("dropped")
