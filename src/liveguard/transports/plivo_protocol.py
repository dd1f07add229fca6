"""Plivo audio streaming, bidirectional, sans-I/O.

Built from Plivo's public documentation:
- https://plivo.com/docs/voice/audio-streaming/audio-streaming (the stream event protocol:
  `start` with `mediaFormat` and `extra_headers`, `media`, `dtmf`, `playedStream`, `clearedAudio`
  from Plivo; `playAudio`, `checkpoint`, `clearAudio` to Plivo)
- https://docs.plivo.com/docs/voice/xml/audiostream (the `<Stream>` XML element: bidirectional,
  contentType `audio/x-l16;rate=8000|16000` or `audio/x-mulaw;rate=8000`, extraHeaders)
- https://docs.plivo.com/docs/voice/xml/audiostream/stream-events-to-plivo/play-audio-event
- https://plivo.com/docs/voice/xml/the-stream-element/checkpoint-event ("playedStream will only be
  emitted if the preceding events were played successfully": cleared checkpoints never echo)
- https://support.plivo.com/hc/en-us/articles/32800291247001 (clearAudio → clearedAudio)

Every documented content type is accepted: μ-law 8 kHz and L16 at 8 or 16 kHz (L16 taken as
little-endian PCM16, the raw samples). The relay answers in the stream's own type and rate. Plivo
documents no `stop` message: the stream ends when the socket closes (a clean close is a hang-up).
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar

from liveguard.transports.carrier import (
    CarrierStream,
    Frame,
    InboundItem,
    StreamStart,
    find_codec,
)

_TYPES = {"audio/x-mulaw": ("pcmu", (8000,)), "audio/x-l16": ("l16", (8000, 16000))}
_SID = "streamId"


def parse_extra_headers(text: str) -> dict[str, str]:
    """`extra_headers` ("a=1;b=2", or comma-separated as in the XML attribute) as a dict."""
    out: dict[str, str] = {}
    for part in text.replace(",", ";").split(";")[:50]:
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[key.strip()[:100]] = value.strip()[:500]
    return out


class PlivoAudioStream(CarrierStream):
    """One Plivo audio-stream WebSocket's protocol state."""

    carrier: ClassVar[str] = "plivo"
    hangs_up_by_close: ClassVar[bool] = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.content_type = "audio/x-mulaw"
        self.cleared_acks = 0
        self._sid_json = '""'

    def _receive(self, data: str | bytes) -> list[InboundItem]:
        msg = self._json(data, "Plivo stream messages")
        if isinstance(msg, list):
            return msg
        event = msg.get("event")
        if event == "media":
            bad = self._started("media") or self._sid_matches(msg, _SID, "media")
            if bad is not None:
                return bad
            wire = self._payload(msg.get("media"))
            return wire if isinstance(wire, list) else self._audio(wire)
        if event == "playedStream":
            bad = self._started("playedStream") or self._sid_matches(msg, _SID, "playedStream")
            return bad or self._echo(msg.get("name"))
        if event == "clearedAudio":
            bad = self._started("clearedAudio") or self._sid_matches(msg, _SID, "clearedAudio")
            self.cleared_acks += bad is None
            return bad or []
        if event == "start":
            return self._on_start(msg)
        if event == "dtmf":
            bad = self._started("dtmf") or self._sid_matches(msg, _SID, "dtmf")
            dtmf = msg.get("dtmf")
            return bad or self._dtmf(dtmf.get("digit") if isinstance(dtmf, dict) else None)
        if event == "stop":  # not documented, but harmless to honour
            return self._sid_matches(msg, _SID, "stop") or self._stop()
        return self._error(f"unknown event {str(event)[:40]!r}")

    def _on_start(self, msg: dict[str, Any]) -> list[InboundItem]:
        if self.state != "new":
            return self._error(f"duplicate 'start' while {self.state}")
        start = msg.get("start")
        if not isinstance(start, dict):
            return self._error("'start' without a start object", fatal=True)
        sid = start.get(_SID, msg.get(_SID))
        if not isinstance(sid, str) or not sid or len(sid) > 128:
            return self._error("'start' without a valid streamId", fatal=True)
        fmt = start.get("mediaFormat") or {}
        if not isinstance(fmt, dict):
            return self._error("'start.mediaFormat' is not an object", fatal=True)
        encoding = str(fmt.get("encoding", "audio/x-mulaw"))
        rate = fmt.get("sampleRate", 8000)
        kind, rates = _TYPES.get(encoding, ("", ()))
        codec = find_codec(kind, rate, rates) if isinstance(rate, int) else None
        if codec is None:
            return self._error(
                f"unsupported media format {encoding[:30]}/{str(rate)[:8]} "
                "(audio/x-mulaw 8000 Hz, or audio/x-l16 8000/16000 Hz)",
                fatal=True,
            )
        extra = msg.get("extra_headers", start.get("extra_headers", ""))
        if not isinstance(extra, str):
            return self._error("'extra_headers' is not a string", fatal=True)
        tracks = start.get("tracks")
        self.codec = codec
        self.content_type = encoding
        self.start = StreamStart(
            stream_sid=sid,
            call_sid=str(start.get("callId", ""))[:200],
            account_sid=str(start.get("accountId", ""))[:200],
            tracks=tuple(str(t) for t in tracks) if isinstance(tracks, list) else ("inbound",),
            custom_parameters=parse_extra_headers(extra[:2048]),
            media_format={"encoding": encoding, "sampleRate": rate, "channels": 1},
        )
        self._sid_json = json.dumps(sid)
        self.state = "started"
        return [self.start]

    # ------------------------------------------------------------------ outbound

    def _media_frames(self, wire: bytes) -> list[Frame]:
        payload = base64.b64encode(wire).decode("ascii")
        head = f'{{"event":"playAudio","media":{{"contentType":"{self.content_type}",'
        return [f'{head}"sampleRate":{self.rate},"payload":"{payload}"}}}}']

    def _mark_frame(self, name: str) -> Frame:
        return f'{{"event":"checkpoint","streamId":{self._sid_json},"name":"{name}"}}'

    def _clear_frames(self) -> list[Frame]:
        return [f'{{"event":"clearAudio","streamId":{self._sid_json}}}']
