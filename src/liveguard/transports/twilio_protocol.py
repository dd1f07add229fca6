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

import base64
import binascii
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

SAMPLE_RATE = 8000
FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
FRAME_S = FRAME_BYTES / SAMPLE_RATE
ULAW_SILENCE = b"\xff"
MAX_PENDING_MARKS = 4096  # bound: a peer that never echoes marks cannot grow memory
_CLEARED_MEMORY = 4096  # how many cleared mark names we remember to ignore their late echoes
_DTMF_DIGITS = frozenset("0123456789*#ABCDabcd")


# --------------------------------------------------------------------------- inbound messages


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str = ""
    version: str = ""


@dataclass(frozen=True, slots=True)
class StreamStart:
    stream_sid: str
    call_sid: str = ""
    account_sid: str = ""
    tracks: tuple[str, ...] = ()
    custom_parameters: dict[str, str] = field(default_factory=dict)
    media_format: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MediaIn:
    """One inbound media frame: μ-law bytes (normally 160 = 20 ms)."""

    payload: bytes
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    """Twilio played the audio up to mark `name`; `played_s` is the total heard so far."""

    name: str
    played_s: float
    cleared: bool = False  # the echo of a mark dropped by `clear`: nothing more was heard

    @property
    def turn_end(self) -> bool:
        """The mark `flush()` sent at the end of a model turn (chunk marks start with "c")."""
        return self.name.startswith("t")


@dataclass(frozen=True, slots=True)
class DtmfIn:
    digit: str


@dataclass(frozen=True, slots=True)
class StreamStop:
    reason: str = "stop"


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Bad caller input. Non-fatal errors drop the message; fatal ones end the call."""

    reason: str
    fatal: bool = False


InboundMessage = (
    Connected | StreamStart | MediaIn | MarkPlayed | DtmfIn | StreamStop | ProtocolError
)


# --------------------------------------------------------------------------- the protocol


class TwilioMediaStream:
    """One Media Stream connection's protocol state.

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
        self.marks_sent = 0
        self.sent_s = 0.0  # model audio handed to Twilio
        self.played_s = 0.0  # confirmed played by mark echoes
        self.cleared_s = 0.0  # dropped by `clear`
        self._carry = b""  # μ-law bytes short of a whole 20 ms frame
        self._unmarked_s = 0.0  # audio framed since the last mark
        self._pending: deque[tuple[str, float]] = deque()  # marks sent, not yet echoed
        self._pending_s = 0.0
        self._cleared: deque[str] = deque(maxlen=_CLEARED_MEMORY)
        self._cleared_set: set[str] = set()
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
        if isinstance(text, bytes | bytearray):
            return self._error("binary frame: Twilio Media Streams sends JSON text frames")
        try:
            msg = json.loads(text)
        except ValueError as exc:
            return self._error(f"invalid JSON: {str(exc)[:80]}")
        if not isinstance(msg, dict):
            return self._error("message is not a JSON object")
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
        sid = msg.get("streamSid")
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
        payload = media.get("payload")
        if not isinstance(payload, str):
            return self._error("'media.payload' is not a string")
        try:
            audio = binascii.a2b_base64(payload, strict_mode=True)  # validates, in C
        except (binascii.Error, ValueError):
            return self._error("'media.payload' is not valid base64")
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
        if name in self._cleared_set:
            return [MarkPlayed(name, self.played_s, cleared=True)]
        if not any(n == name for n, _ in self._pending):
            return self._error(f"echo of a mark we never sent: {name[:40]!r}")
        while self._pending:  # marks come back in order; an echo confirms all before it
            n, secs = self._pending.popleft()
            self._pending_s -= secs
            self.played_s += secs
            if n == name:
                break
        if not self._pending:
            self._pending_s = 0.0
        return [MarkPlayed(name, self.played_s)]

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
    def unplayed_s(self) -> float:
        """Model audio sent to Twilio that it has not confirmed as played (plus unsent carry)."""
        return max(0.0, self._pending_s) + self._unmarked_s

    @property
    def pending_marks(self) -> int:
        return len(self._pending)

    def send_audio(self, ulaw: bytes, *, mark: bool = True) -> list[str]:
        """μ-law audio as one `media` message of whole 20 ms frames (the remainder waits for more
        audio). Twilio plays media payloads of any length back to back; one message per model chunk
        instead of one per 20 ms frame halves the relay's sends.

        With `mark`, a `mark` message follows, so Twilio tells us when the audio was played.
        """
        if self.state != "started" or not ulaw:
            return []
        data = self._carry + ulaw if self._carry else ulaw
        whole = len(data) - len(data) % FRAME_BYTES
        self._carry = data[whole:]
        out = [self._media(data[:whole])] if whole else []
        if mark and out:
            out.append(self._mark())
        return out

    def flush(self) -> list[str]:
        """Send any partial frame (padded with μ-law silence) and a mark: end of a model turn."""
        if self.state != "started":
            return []
        out: list[str] = []
        if self._carry:
            out.append(self._media(self._carry + ULAW_SILENCE * (FRAME_BYTES - len(self._carry))))
            self._carry = b""
        if self._unmarked_s > 0 or self._pending:
            out.append(self._mark("t"))
        return out

    def clear(self) -> tuple[str, float]:
        """A real barge-in: the `clear` message, and the seconds of audio the caller won't hear."""
        unplayed = self.unplayed_s + len(self._carry) / SAMPLE_RATE
        for name, _ in self._pending:
            if len(self._cleared) == self._cleared.maxlen:
                self._cleared_set.discard(self._cleared[0])
            self._cleared.append(name)
            self._cleared_set.add(name)
        self._pending.clear()
        self._pending_s = 0.0
        self._unmarked_s = 0.0
        self._carry = b""
        self.cleared_s += unplayed
        return f'{{"event":"clear","streamSid":{self._sid_json}}}', unplayed

    def _media(self, frame: bytes) -> str:
        self.frames_out += -(-len(frame) // FRAME_BYTES)  # in 20 ms frames
        secs = len(frame) / SAMPLE_RATE
        self.sent_s += secs
        self._unmarked_s += secs
        payload = base64.b64encode(frame).decode("ascii")
        return f'{{"event":"media","streamSid":{self._sid_json},"media":{{"payload":"{payload}"}}}}'

    def _mark(self, kind: str = "c") -> str:
        self.marks_sent += 1
        name = f"{kind}{self.marks_sent}"
        if len(self._pending) >= MAX_PENDING_MARKS:  # peer never echoes: fold the oldest in
            old, secs = self._pending.popleft()
            n2, secs2 = self._pending.popleft() if self._pending else (old, 0.0)
            self._pending.appendleft((n2, secs + secs2))
        self._pending.append((name, self._unmarked_s))
        self._pending_s += self._unmarked_s
        self._unmarked_s = 0.0
        return f'{{"event":"mark","streamSid":{self._sid_json},"mark":{{"name":"{name}"}}}}'
