"""Twilio Media Streams, sans-I/O: text frames in, typed messages out; audio in, text frames out.

Why sans-I/O: every rule of the protocol (event order, payload checks, 20 ms framing, marks and
what the caller actually heard, `clear` on a barge-in) is decided here without a socket, so it is
tested and fuzzed directly and the aiohttp handler only moves strings.

Inbound (Twilio → us): `connected`, `start`, `media`, `mark`, `dtmf`, `stop`.
Outbound (us → Twilio): `media` (base64 μ-law, 160 bytes = 20 ms each), `mark` after each chunk
of model audio, `clear` to drop what Twilio has buffered but not yet played.

Playout tracking: Twilio echoes a `mark` when the audio sent before it has been played (and echoes
every pending mark at once after a `clear`). The protocol keeps the marks it sent with the seconds
of audio each covers, so `played_s` is what the caller actually heard and `unplayed_s` what is still
buffered on Twilio's side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from liveguard.transports.carrier import Codec, Frame, MediaOut
from liveguard.transports.framing import FrameChunker
from liveguard.transports.json_wire import (
    b64_payload,
    clear_frame,
    json_object,
    mark_frame,
    media_frame,
)
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
    "FRAME_BYTES",
    "SAMPLE_RATE",
    "Connected",
    "DtmfIn",
    "InboundMessage",
    "MarkPlayed",
    "MediaIn",
    "ProtocolError",
    "StreamStart",
    "StreamStop",
    "TwilioMediaStream",
]

SAMPLE_RATE = 8000
FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
FRAME_S = FRAME_BYTES / SAMPLE_RATE
ULAW_SILENCE = b"\xff"
_DTMF_DIGITS = frozenset("0123456789*#ABCDabcd")
_SID = "streamSid"


def _as_is(data: bytes) -> bytes:
    return data


# model audio arrives as μ-law already (TwilioCall encodes it) and goes out as it is; caller audio
# is handed on as μ-law too (`MediaIn`)
_ULAW_AS_IS = Codec("pcmu", SAMPLE_RATE, 1, _as_is, _as_is, ULAW_SILENCE)


# --------------------------------------------------------------------------- inbound messages


@dataclass(frozen=True, slots=True)
class MediaIn:
    """One inbound media frame: μ-law bytes (normally 160 = 20 ms)."""

    payload: bytes
    timestamp_ms: int | None = None


InboundMessage = (
    Connected | StreamStart | MediaIn | MarkPlayed | DtmfIn | StreamStop | ProtocolError
)


# --------------------------------------------------------------------------- the protocol


class TwilioMediaStream(MediaOut):
    """One Media Stream connection's protocol state (model audio out: `MediaOut`, as every
    carrier's, with μ-law passed through as it is).

    `receive(text)` parses one WebSocket text frame; `send_audio(ulaw)` frames model audio;
    `clear()` answers a real barge-in. States: "new" → "started" → "stopped".
    """

    carrier: ClassVar[str] = "twilio"

    def __init__(self, *, max_message_bytes: int = 65536, max_errors: int = 50) -> None:
        self.max_message_bytes = max_message_bytes
        self.max_errors = max_errors
        self.state = "new"
        self.connected = False
        self.start: StreamStart | None = None
        self.errors = 0
        self.frames_in = 0
        self.frames_out = 0
        self.playout = PlayoutTracker()  # marks sent, echoed, cleared; seconds sent and heard
        self.codec: Codec | None = _ULAW_AS_IS
        self._chunks: FrameChunker | None = FrameChunker(FRAME_BYTES, ULAW_SILENCE)
        self._sid_json = '""'
        self.stop_reason: str | None = None

    # ------------------------------------------------------------------ inbound

    @property
    def rate(self) -> int:
        """The stream's sample rate (Twilio: always 8 kHz μ-law)."""
        return SAMPLE_RATE

    @property
    def stream_sid(self) -> str:
        return self.start.stream_sid if self.start else ""

    def receive(self, text: str | bytes) -> list[InboundMessage]:
        """Parse one frame. Returns the messages it yields (usually one); never raises."""
        try:
            return self._receive(text)
        except Exception as exc:  # a parser bug must not take the call down silently
            return self._error(f"unparseable message: {type(exc).__name__}: {exc}")

    def _error(self, reason: str, fatal: bool = False) -> list[InboundMessage]:
        self.errors += 1
        out: list[InboundMessage] = [ProtocolError(reason, fatal)]
        if not fatal and self.errors >= self.max_errors:
            out.append(ProtocolError(f"too many bad messages ({self.errors})", fatal=True))
        return out

    def _receive(self, text: str | bytes) -> list[InboundMessage]:
        if len(text) > self.max_message_bytes:
            return self._error(f"message of {len(text)} bytes exceeds {self.max_message_bytes}")
        msg = json_object(text, "Twilio Media Streams sends JSON text frames")
        if isinstance(msg, str):
            return self._error(msg)
        event = msg.get("event")
        if event == "media":  # the hot path first
            return self._on_media(msg)
        if event == "mark":
            return self._on_mark(msg)
        if event == "connected":
            if self.connected or self.state != "new":
                return self._error("duplicate or late 'connected' event")
            self.connected = True
            return [Connected(str(msg.get("protocol", "")), str(msg.get("version", "")))]
        if event == "start":
            return self._on_start(msg)
        if event == "dtmf":
            return self._on_dtmf(msg)
        if event == "stop":
            if self.state != "started":
                return self._error(f"'stop' while {self.state}")
            self.state = "stopped"
            self.stop_reason = "stop"
            return [StreamStop()]
        return self._error(f"unknown event {str(event)[:40]!r}")

    def _check_started(self, event: str, msg: dict[str, Any]) -> list[InboundMessage] | None:
        if self.state != "started":
            return self._error(
                f"'{event}' before 'start'" if self.state == "new" else f"'{event}' after 'stop'"
            )
        sid = msg.get(_SID)
        if sid is not None and sid != self.start.stream_sid:  # type: ignore[union-attr]
            return self._error(f"'{event}' for another streamSid {str(sid)[:40]!r}")
        return None

    def _on_start(self, msg: dict[str, Any]) -> list[InboundMessage]:
        if self.state != "new":
            return self._error(f"duplicate 'start' while {self.state}")
        start = msg.get("start")
        if not isinstance(start, dict):
            return self._error("'start' without a start object", fatal=True)
        sid = start.get("streamSid", msg.get("streamSid"))
        if not isinstance(sid, str) or not sid or len(sid) > 128:
            return self._error("'start' without a valid streamSid", fatal=True)
        fmt = start.get("mediaFormat") or {}
        if not isinstance(fmt, dict):
            return self._error("'start.mediaFormat' is not an object", fatal=True)
        encoding = fmt.get("encoding", "audio/x-mulaw")
        rate = fmt.get("sampleRate", SAMPLE_RATE)
        channels = fmt.get("channels", 1)
        if encoding != "audio/x-mulaw" or rate != SAMPLE_RATE or channels != 1:
            return self._error(
                f"unsupported media format {encoding}/{rate}/{channels}ch "
                "(need audio/x-mulaw 8000 Hz mono)",
                fatal=True,
            )
        params = start.get("customParameters") or {}
        if not isinstance(params, dict):
            return self._error("'start.customParameters' is not an object", fatal=True)
        tracks = start.get("tracks") or ["inbound"]
        self.start = StreamStart(
            stream_sid=sid,
            call_sid=str(start.get("callSid", "")),
            account_sid=str(start.get("accountSid", "")),
            tracks=tuple(str(t) for t in tracks) if isinstance(tracks, list) else ("inbound",),
            custom_parameters={str(k): str(v) for k, v in params.items()},
            media_format={"encoding": encoding, "sampleRate": rate, "channels": channels},
        )
        self._sid_json = json.dumps(sid)
        self.state = "started"
        return [self.start]

    def _on_media(self, msg: dict[str, Any]) -> list[InboundMessage]:
        bad = self._check_started("media", msg)
        if bad is not None:
            return bad
        media = msg.get("media")
        if not isinstance(media, dict):
            return self._error("'media' without a media object")
        if media.get("track", "inbound") not in ("inbound", "inbound_track"):
            return []  # both_tracks streams echo our own audio back: not caller audio
        audio = b64_payload(media)
        if isinstance(audio, str):
            return self._error(audio)
        if not audio:
            return []
        ts = media.get("timestamp")
        try:
            timestamp = int(ts) if ts is not None else None
        except (TypeError, ValueError):
            timestamp = None
        self.frames_in += 1
        return [MediaIn(audio, timestamp)]

    def _on_mark(self, msg: dict[str, Any]) -> list[InboundMessage]:
        bad = self._check_started("mark", msg)
        if bad is not None:
            return bad
        mark = msg.get("mark")
        name = mark.get("name") if isinstance(mark, dict) else None
        if not isinstance(name, str):
            return self._error("'mark' without a name")
        played = self.playout.echoed(name)  # an echo confirms every mark before it
        if played is None:
            return self._error(f"echo of a mark we never sent: {name[:40]!r}")
        return [played]

    def _on_dtmf(self, msg: dict[str, Any]) -> list[InboundMessage]:
        bad = self._check_started("dtmf", msg)
        if bad is not None:
            return bad
        dtmf = msg.get("dtmf")
        digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
        if not isinstance(digit, str) or len(digit) != 1 or digit not in _DTMF_DIGITS:
            return self._error(f"'dtmf' with an invalid digit {str(digit)[:10]!r}")
        return [DtmfIn(digit)]

    def connection_lost(self, clean: bool = False) -> StreamStop | None:
        """The socket closed. Returns a stop (reason "dropped") unless Twilio sent `stop` first
        (a clean close without `stop` is still a drop: Twilio always says `stop`)."""
        if self.state == "stopped":
            return None
        self.state = "stopped"
        self.stop_reason = "dropped"
        return StreamStop("dropped")

    # ------------------------------------------------------------------ outbound

    @property
    def pending_marks(self) -> int:
        return self.playout.pending

    @property
    def marks_sent(self) -> int:
        return self.playout.marks_sent

    @property
    def sent_s(self) -> float:
        """Model audio handed to Twilio."""
        return self.playout.sent_s

    @property
    def cleared_s(self) -> float:
        """Model audio dropped by `clear`."""
        return self.playout.cleared_s

    def clear(self) -> tuple[str, float]:  # type: ignore[override]
        """A real barge-in: the `clear` message, and the seconds of audio the caller won't hear."""
        frames, unplayed = super().clear()
        return str(frames[0]), unplayed

    def _media_frames(self, wire: bytes) -> list[Frame]:
        """One `media` message per model chunk: Twilio plays payloads of any length back to back,
        and one message per chunk instead of one per 20 ms frame halves the relay's sends."""
        return [media_frame(_SID, self._sid_json, wire)]

    def _mark_frame(self, name: str) -> Frame:
        return mark_frame(_SID, self._sid_json, name)

    def _clear_frames(self) -> list[Frame]:
        return [clear_frame(_SID, self._sid_json)]
