"""Exotel AgentStream (Voicebot applet, bidirectional), sans-I/O.

Built from Exotel's public documentation:
- https://developer.exotel.com/docs/agentstream/websocket-protocol (`connected`, `start`, `media`,
  `dtmf`, `mark`, `stop` from Exotel; `media`, `mark`, `clear` to Exotel; snake_case fields,
  `stream_sid`, `media_format.sample_rate` as a string)
- https://developer.exotel.com/docs/agentstream/stream-voicebot-applet (audio: raw/slin PCM16
  little-endian mono in base64; 8000 Hz by default, 16000 or 24000 with `?sample-rate=` on the
  stream URL; custom parameters as URL query parameters; chunks sent to Exotel at least 100 ms,
  at most 100 KB, in multiples of 320 bytes)
- https://support.exotel.com/support/solutions/articles/3000108630 (the chunk-size window)

Outbound audio therefore goes in chunks of at least five 20 ms frames (every 20 ms frame at 8,
16 or 24 kHz is a multiple of 320 bytes); a turn's tail is padded to a whole frame. Caller audio
must be whole 16-bit samples.
"""

from __future__ import annotations

from typing import Any, ClassVar

from liveguard.transports.carrier import Frame, InboundItem, StreamStart, find_codec
from liveguard.transports.json_carrier import JsonCarrierStream
from liveguard.transports.json_wire import media_frame

RATES = (8000, 16000, 24000)
MAX_CHUNK_BYTES = 100_000


class ExotelAgentStream(JsonCarrierStream):
    """One Exotel Voicebot WebSocket's protocol state; `rate` from `?sample-rate=` (default)."""

    carrier: ClassVar[str] = "exotel"
    min_chunk_frames: ClassVar[int] = 5  # 100 ms: Exotel's documented minimum chunk
    sid_key: ClassVar[str] = "stream_sid"
    format_key: ClassVar[str] = "media_format"
    messages: ClassVar[str] = "Exotel stream messages"

    def __init__(
        self, *, sample_rate: int = 8000, parameters: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.url_rate = sample_rate if sample_rate in RATES else 8000
        self.url_parameters = dict(parameters or {})

    def _on_event(self, event: Any, msg: dict[str, Any]) -> list[InboundItem]:
        if event == "mark":
            return self._on_mark(msg)
        if event == "connected":
            return self._on_connected()
        if event == "stop":
            stop = msg.get("stop")
            reason = stop.get("reason") if isinstance(stop, dict) else None
            return self._on_stop(msg, str(reason)[:80] if reason else "stop")
        return super()._on_event(event, msg)

    def _start(
        self, msg: dict[str, Any], start: dict[str, Any], sid: str, fmt: dict[str, Any]
    ) -> list[InboundItem]:
        encoding = str(fmt.get("encoding", "audio/x-raw"))
        raw_rate = fmt.get("sample_rate", self.url_rate)
        rate = int(raw_rate) if str(raw_rate).isdigit() and len(str(raw_rate)) < 7 else None
        codec = find_codec("l16", rate, RATES) if rate is not None else None
        if encoding != "audio/x-raw" or codec is None or str(fmt.get("bit_rate", "16")) != "16":
            return self._error(
                f"unsupported media format {encoding[:30]}/{str(raw_rate)[:8]} "
                "(audio/x-raw 16-bit at 8000, 16000 or 24000 Hz)",
                fatal=True,
            )
        params = self._start_object(start, "custom_parameters")
        if isinstance(params, list):
            return params
        merged = {**self.url_parameters, **{str(k): str(v) for k, v in params.items()}}
        return self._begin(
            codec,
            StreamStart(
                stream_sid=sid,
                call_sid=str(start.get("call_sid", ""))[:200],
                account_sid=str(start.get("account_sid", ""))[:200],
                tracks=("inbound",),
                custom_parameters={k[:100]: v[:500] for k, v in list(merged.items())[:50]},
                media_format={"encoding": encoding, "sampleRate": rate, "channels": 1},
            ),
        )

    # ------------------------------------------------------------------ outbound

    def _media_frames(self, wire: bytes) -> list[Frame]:
        """Chunks of at most 100 KB (Exotel's limit), each a multiple of 320 bytes."""
        step = MAX_CHUNK_BYTES - MAX_CHUNK_BYTES % 320
        return [
            media_frame(self.sid_key, self._sid_json, wire[i : i + step])
            for i in range(0, len(wire), step)
        ]
