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

import base64
import json
from typing import Any, ClassVar

from liveguard.transports.carrier import (
    CarrierStream,
    Connected,
    Frame,
    InboundItem,
    StreamStart,
    find_codec,
)

RATES = (8000, 16000, 24000)
MAX_CHUNK_BYTES = 100_000
_SID = "stream_sid"


class ExotelAgentStream(CarrierStream):
    """One Exotel Voicebot WebSocket's protocol state; `rate` from `?sample-rate=` (default)."""

    carrier: ClassVar[str] = "exotel"
    min_chunk_frames: ClassVar[int] = 5  # 100 ms: Exotel's documented minimum chunk

    def __init__(
        self, *, sample_rate: int = 8000, parameters: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.url_rate = sample_rate if sample_rate in RATES else 8000
        self.url_parameters = dict(parameters or {})
        self.connected = False
        self._sid_json = '""'

    def _receive(self, data: str | bytes) -> list[InboundItem]:
        msg = self._json(data, "Exotel stream messages")
        if isinstance(msg, list):
            return msg
        event = msg.get("event")
        if event == "media":
            bad = self._started("media") or self._sid_matches(msg, _SID, "media")
            if bad is not None:
                return bad
            wire = self._payload(msg.get("media"))
            return wire if isinstance(wire, list) else self._audio(wire)
        if event == "mark":
            bad = self._started("mark") or self._sid_matches(msg, _SID, "mark")
            mark = msg.get("mark")
            return bad or self._echo(mark.get("name") if isinstance(mark, dict) else None)
        if event == "connected":
            if self.connected or self.state != "new":
                return self._error("duplicate or late 'connected'")
            self.connected = True
            return [Connected("exotel", "")]
        if event == "start":
            return self._on_start(msg)
        if event == "dtmf":
            bad = self._started("dtmf") or self._sid_matches(msg, _SID, "dtmf")
            dtmf = msg.get("dtmf")
            return bad or self._dtmf(dtmf.get("digit") if isinstance(dtmf, dict) else None)
        if event == "stop":
            stop = msg.get("stop")
            reason = stop.get("reason") if isinstance(stop, dict) else None
            bad = self._sid_matches(msg, _SID, "stop")
            return bad or self._stop(str(reason)[:80] if reason else "stop")
        return self._error(f"unknown event {str(event)[:40]!r}")

    def _on_start(self, msg: dict[str, Any]) -> list[InboundItem]:
        if self.state != "new":
            return self._error(f"duplicate 'start' while {self.state}")
        start = msg.get("start")
        if not isinstance(start, dict):
            return self._error("'start' without a start object", fatal=True)
        sid = start.get(_SID, msg.get(_SID))
        if not isinstance(sid, str) or not sid or len(sid) > 128:
            return self._error("'start' without a valid stream_sid", fatal=True)
        fmt = start.get("media_format") or {}
        if not isinstance(fmt, dict):
            return self._error("'start.media_format' is not an object", fatal=True)
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
        params = start.get("custom_parameters") or {}
        if not isinstance(params, dict):
            return self._error("'start.custom_parameters' is not an object", fatal=True)
        merged = {**self.url_parameters, **{str(k): str(v) for k, v in params.items()}}
        self.codec = codec
        self.start = StreamStart(
            stream_sid=sid,
            call_sid=str(start.get("call_sid", ""))[:200],
            account_sid=str(start.get("account_sid", ""))[:200],
            tracks=("inbound",),
            custom_parameters={k[:100]: v[:500] for k, v in list(merged.items())[:50]},
            media_format={"encoding": encoding, "sampleRate": rate, "channels": 1},
        )
        self._sid_json = json.dumps(sid)
        self.state = "started"
        return [self.start]

    # ------------------------------------------------------------------ outbound

    def _media_frames(self, wire: bytes) -> list[Frame]:
        out: list[Frame] = []
        step = MAX_CHUNK_BYTES - MAX_CHUNK_BYTES % 320
        for i in range(0, len(wire), step):
            payload = base64.b64encode(wire[i : i + step]).decode("ascii")
            out.append(
                f'{{"event":"media","stream_sid":{self._sid_json},'
                f'"media":{{"payload":"{payload}"}}}}'
            )
        return out

    def _mark_frame(self, name: str) -> Frame:
        return f'{{"event":"mark","stream_sid":{self._sid_json},"mark":{{"name":"{name}"}}}}'

    def _clear_frames(self) -> list[Frame]:
        return [f'{{"event":"clear","stream_sid":{self._sid_json}}}']
