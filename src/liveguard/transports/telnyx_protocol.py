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

import json
from typing import Any, ClassVar

from liveguard.transports.carrier import AudioIn, InboundItem, StreamStart, find_codec
from liveguard.transports.json_carrier import JsonCarrierStream

REORDER_WINDOW = 3  # out-of-order chunks held back at most (3 × 20 ms)
_CODECS = {"PCMU": ("pcmu", (8000,)), "PCMA": ("pcma", (8000,)), "L16": ("l16be", (8000, 16000))}


class TelnyxMediaStream(JsonCarrierStream):
    """One Telnyx media-stream WebSocket's protocol state."""

    carrier: ClassVar[str] = "telnyx"
    sid_key: ClassVar[str] = "stream_id"
    format_key: ClassVar[str] = "media_format"
    sid_in_message_first: ClassVar[bool] = True
    messages: ClassVar[str] = "Telnyx media-stream messages"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.late_chunks = 0  # dropped: older than what was already delivered
        self.skipped_chunks = 0  # never arrived within the reorder window
        self._next_chunk: int | None = None
        self._held: dict[int, bytes] = {}

    def _on_event(self, event: Any, msg: dict[str, Any]) -> list[InboundItem]:
        if event == "mark":
            return self._on_mark(msg)
        if event == "connected":
            return self._on_connected(str(msg.get("version", "")))
        if event == "stop":
            return self._on_stop(msg)
        if event == "error":
            payload = msg.get("payload")
            detail = json.dumps(payload)[:160] if payload is not None else "no detail"
            return self._error(f"Telnyx reported an error: {detail}")
        return super()._on_event(event, msg)

    def _start(
        self, msg: dict[str, Any], start: dict[str, Any], sid: str, fmt: dict[str, Any]
    ) -> list[InboundItem]:
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
        params = self._start_object(start, "custom_parameters")
        if isinstance(params, list):
            return params
        return self._begin(
            codec,
            StreamStart(
                stream_sid=sid,
                call_sid=str(start.get("call_control_id", ""))[:200],
                account_sid=str(start.get("user_id", ""))[:200],
                tracks=("inbound",),
                custom_parameters={
                    str(k)[:100]: str(v)[:500] for k, v in list(params.items())[:50]
                },
                media_format={"encoding": encoding, "sampleRate": rate, "channels": channels},
            ),
        )

    def _on_media(self, msg: dict[str, Any]) -> list[InboundItem]:
        bad = self._checked("media", msg)
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
