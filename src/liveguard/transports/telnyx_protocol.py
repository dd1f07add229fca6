"""Telnyx media streaming, bidirectional RTP mode, sans-I/O.

Built from Telnyx's public documentation:
- https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket
  (the AsyncAPI of the WebSocket: `connected`, `start`, `media`, `stop`, `dtmf`, `mark`, `error`
  from Telnyx; `media`, `mark`, `clear` to Telnyx; "a clear frame also returns queued marks";
  "media frame order is not guaranteed: use media.chunk, media.timestamp and sequence_number")
- https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/stream.md (TeXML
  `<Stream>`: url, track, codec; bidirectional RTP mode)
- https://developers.telnyx.com/api-reference/call-commands/streaming-start (codecs PCMU, PCMA,
  G722, OPUS, AMR-WB, L16; `stream_bidirectional_mode=rtp`, `stream_bidirectional_codec`)

Payloads are RTP payloads without headers, base64 in JSON. Supported here: PCMU and PCMA at
8 kHz (the default is PCMU) and L16 (RTP byte order, big-endian) at 8 or 16 kHz; G722, OPUS and
AMR-WB end the call with a clear reason (we would need their codecs). The relay answers in the
stream's own codec and rate (configure `bidirectionalCodec` to match).

Ordering: frames are put back in `media.chunk` order through a small reorder window; a chunk
older than the last delivered one is dropped, and a gap the window cannot fill is skipped.
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar

from liveguard.transports.carrier import (
    AudioIn,
    CarrierStream,
    Connected,
    Frame,
    InboundItem,
    StreamStart,
    find_codec,
)

REORDER_WINDOW = 3  # out-of-order chunks held back at most (3 × 20 ms)
_CODECS = {"PCMU": ("pcmu", (8000,)), "PCMA": ("pcma", (8000,)), "L16": ("l16be", (8000, 16000))}
_SID = "stream_id"


class TelnyxMediaStream(CarrierStream):
    """One Telnyx media-stream WebSocket's protocol state."""

    carrier: ClassVar[str] = "telnyx"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connected = False
        self.late_chunks = 0  # dropped: older than what was already delivered
        self.skipped_chunks = 0  # never arrived within the reorder window
        self._next_chunk: int | None = None
        self._held: dict[int, bytes] = {}
        self._sid_json = '""'

    def _receive(self, data: str | bytes) -> list[InboundItem]:
        msg = self._json(data, "Telnyx media-stream messages")
        if isinstance(msg, list):
            return msg
        event = msg.get("event")
        if event == "media":
            return self._on_media(msg)
        if event == "mark":
            bad = self._started("mark") or self._sid_matches(msg, _SID, "mark")
            mark = msg.get("mark")
            return bad or self._echo(mark.get("name") if isinstance(mark, dict) else None)
        if event == "connected":
            if self.connected or self.state != "new":
                return self._error("duplicate or late 'connected'")
            self.connected = True
            return [Connected("telnyx", str(msg.get("version", "")))]
        if event == "start":
            return self._on_start(msg)
        if event == "dtmf":
            bad = self._started("dtmf") or self._sid_matches(msg, _SID, "dtmf")
            dtmf = msg.get("dtmf")
            return bad or self._dtmf(dtmf.get("digit") if isinstance(dtmf, dict) else None)
        if event == "stop":
            return self._sid_matches(msg, _SID, "stop") or self._stop()
        if event == "error":
            payload = msg.get("payload")
            detail = json.dumps(payload)[:160] if payload is not None else "no detail"
            return self._error(f"Telnyx reported an error: {detail}")
        return self._error(f"unknown event {str(event)[:40]!r}")

    def _on_start(self, msg: dict[str, Any]) -> list[InboundItem]:
        if self.state != "new":
            return self._error(f"duplicate 'start' while {self.state}")
        start = msg.get("start")
        if not isinstance(start, dict):
            return self._error("'start' without a start object", fatal=True)
        sid = msg.get(_SID, start.get(_SID))
        if not isinstance(sid, str) or not sid or len(sid) > 128:
            return self._error("'start' without a valid stream_id", fatal=True)
        fmt = start.get("media_format") or {}
        if not isinstance(fmt, dict):
            return self._error("'start.media_format' is not an object", fatal=True)
        encoding = str(fmt.get("encoding", "PCMU")).upper()
        rate = fmt.get("sample_rate", 8000)
        channels = fmt.get("channels", 1)
        kind, rates = _CODECS.get(encoding, ("", ()))
        codec = find_codec(kind, rate, rates) if isinstance(rate, int) else None
        if codec is None or channels != 1:
            return self._error(
                f"unsupported media format {encoding[:20]}/{str(rate)[:8]}/{str(channels)[:4]}ch "
                "(PCMU or PCMA 8000 Hz, or L16 8000/16000 Hz, mono)",
                fatal=True,
            )
        params = start.get("custom_parameters") or {}
        if not isinstance(params, dict):
            return self._error("'start.custom_parameters' is not an object", fatal=True)
        self.codec = codec
        self.start = StreamStart(
            stream_sid=sid,
            call_sid=str(start.get("call_control_id", ""))[:200],
            account_sid=str(start.get("user_id", ""))[:200],
            tracks=("inbound",),
            custom_parameters={str(k)[:100]: str(v)[:500] for k, v in list(params.items())[:50]},
            media_format={"encoding": encoding, "sampleRate": rate, "channels": channels},
        )
        self._sid_json = json.dumps(sid)
        self.state = "started"
        return [self.start]

    def _on_media(self, msg: dict[str, Any]) -> list[InboundItem]:
        bad = self._started("media") or self._sid_matches(msg, _SID, "media")
        if bad is not None:
            return bad
        wire = self._payload(msg.get("media"), inbound_tracks=("inbound", "inbound_track"))
        if isinstance(wire, list):
            return wire
        chunk = _int(msg["media"].get("chunk"))
        if chunk is None:  # unnumbered: deliver as it comes
            return self._audio(wire)
        return self._reorder(chunk, wire)

    def _reorder(self, chunk: int, wire: bytes) -> list[InboundItem]:
        """Deliver chunks in order; hold up to REORDER_WINDOW early ones for a missing one."""
        if self._next_chunk is None:
            self._next_chunk = chunk
        if chunk < self._next_chunk or chunk in self._held:
            self.late_chunks += 1
            return []
        self._held[chunk] = wire
        if len(self._held) > REORDER_WINDOW:  # the gap will not be filled: skip it
            first = min(self._held)
            self.skipped_chunks += first - self._next_chunk
            self._next_chunk = first
        out: list[InboundItem] = []
        while self._next_chunk in self._held:
            out += self._audio(self._held.pop(self._next_chunk))
            self._next_chunk += 1
        return out

    # ------------------------------------------------------------------ outbound

    def _media_frames(self, wire: bytes) -> list[Frame]:
        payload = base64.b64encode(wire).decode("ascii")
        sid = self._sid_json
        return [f'{{"event":"media","stream_id":{sid},"media":{{"payload":"{payload}"}}}}']

    def _mark_frame(self, name: str) -> Frame:
        return f'{{"event":"mark","stream_id":{self._sid_json},"mark":{{"name":"{name}"}}}}'

    def _clear_frames(self) -> list[Frame]:
        return [f'{{"event":"clear","stream_id":{self._sid_json}}}']


def _int(value: Any) -> int | None:
    """Telnyx numbers arrive as strings ("2"); None when absent or not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return None


__all__ = ["AudioIn", "TelnyxMediaStream"]
