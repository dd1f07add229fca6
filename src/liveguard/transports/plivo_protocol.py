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
from typing import Any, ClassVar

from liveguard.transports.carrier import Frame, InboundItem, StreamStart, find_codec
from liveguard.transports.json_carrier import JsonCarrierStream

_TYPES = {"audio/x-mulaw": ("pcmu", (8000,)), "audio/x-l16": ("l16", (8000, 16000))}


def parse_extra_headers(text: str) -> dict[str, str]:
    """`extra_headers` ("a=1;b=2", or comma-separated as in the XML attribute) as a dict."""
    out: dict[str, str] = {}
    for part in text.replace(",", ";").split(";")[:50]:
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[key.strip()[:100]] = value.strip()[:500]
    return out


class PlivoAudioStream(JsonCarrierStream):
    """One Plivo audio-stream WebSocket's protocol state."""

    carrier: ClassVar[str] = "plivo"
    hangs_up_by_close: ClassVar[bool] = True
    sid_key: ClassVar[str] = "streamId"
    format_key: ClassVar[str] = "mediaFormat"
    messages: ClassVar[str] = "Plivo stream messages"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.content_type = "audio/x-mulaw"
        self.cleared_acks = 0

    def _on_event(self, event: Any, msg: dict[str, Any]) -> list[InboundItem]:
        if event == "playedStream":
            return self._checked("playedStream", msg) or self._echo(msg.get("name"))
        if event == "clearedAudio":
            bad = self._checked("clearedAudio", msg)
            self.cleared_acks += bad is None
            return bad or []
        if event == "stop":  # not documented, but harmless to honour
            return self._on_stop(msg)
        return super()._on_event(event, msg)

    def _start(
        self, msg: dict[str, Any], start: dict[str, Any], sid: str, fmt: dict[str, Any]
    ) -> list[InboundItem]:
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
        self.content_type = encoding
        return self._begin(
            codec,
            StreamStart(
                stream_sid=sid,
                call_sid=str(start.get("callId", ""))[:200],
                account_sid=str(start.get("accountId", ""))[:200],
                tracks=tuple(str(t) for t in tracks) if isinstance(tracks, list) else ("inbound",),
                custom_parameters=parse_extra_headers(extra[:2048]),
                media_format={"encoding": encoding, "sampleRate": rate, "channels": 1},
            ),
        )

    # ------------------------------------------------------------------ outbound

    def _media_frames(self, wire: bytes) -> list[Frame]:
        payload = base64.b64encode(wire).decode("ascii")
        head = f'{{"event":"playAudio","media":{{"contentType":"{self.content_type}",'
        return [f'{head}"sampleRate":{self.rate},"payload":"{payload}"}}}}']

    def _mark_frame(self, name: str) -> Frame:
        return f'{{"event":"checkpoint","streamId":{self._sid_json},"name":"{name}"}}'

    def _clear_frames(self) -> list[Frame]:
        return [f'{{"event":"clearAudio","streamId":{self._sid_json}}}']
