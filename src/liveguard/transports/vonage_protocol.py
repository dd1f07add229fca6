"""Vonage Voice API WebSocket, sans-I/O: JSON text for control, binary PCM16 for audio.

Built from Vonage's public documentation:
- https://developer.vonage.com/en/voice/voice-api/guides/websockets (the NCCO `connect` action with
  a `websocket` endpoint, `content-type` `audio/l16;rate=16000` or `rate=8000`, `headers` sent
  to the server; the first message is the text `websocket:connected` carrying them; then binary
  messages of 16-bit linear PCM, 20 ms each: 640 bytes at 16 kHz, 320 at 8 kHz, both ways;
  text commands `{"action":"clear"}` and `{"action":"notify","payload":...}`, answered by the
  `websocket:cleared` and `websocket:notify` events; DTMF as `websocket:dtmf`)
- https://asyncapi.apis.io/asyncapis/vonage/vonage-asyncapi/ (the same surface as an AsyncAPI:
  little-endian PCM, WebsocketConnected/Cleared/Notify events, Clear and Notify commands)

A binary message of any other size is a bad frame (dropped, logged). Vonage has no stop message:
a clean close is the hang-up. Playout is tracked with `notify`, whose payload names the marker.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, ClassVar

from liveguard.transports.carrier import (
    CarrierStream,
    Connected,
    Frame,
    InboundItem,
    StreamStart,
    find_codec,
)

_CONTENT_TYPE = re.compile(r"^audio/l16;\s*rate=(8000|16000)$", re.IGNORECASE)
CLEAR = '{"action":"clear"}'


class VonageWebSocket(CarrierStream):
    """One Vonage call WebSocket's protocol state."""

    carrier: ClassVar[str] = "vonage"
    hangs_up_by_close: ClassVar[bool] = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bad_frames = 0

    def _receive(self, data: str | bytes) -> list[InboundItem]:
        if isinstance(data, bytes | bytearray):
            return self._on_audio(bytes(data))
        msg = self._json(data, "Vonage events")
        if isinstance(msg, list):
            return msg
        event = msg.get("event")
        if event == "websocket:connected":
            return self._on_connected(msg)
        if event == "websocket:notify":
            bad = self._started("websocket:notify")
            payload = msg.get("payload")
            return bad or self._echo(payload.get("name") if isinstance(payload, dict) else None)
        if event == "websocket:cleared":
            return self._started("websocket:cleared") or []
        if event == "websocket:dtmf":
            bad = self._started("websocket:dtmf")
            digit = msg.get("digit")
            if digit is None and isinstance(msg.get("dtmf"), dict):
                digit = msg["dtmf"].get("digit")
            return bad or self._dtmf(digit)
        return self._error(f"unknown event {str(event)[:40]!r}")

    def _on_connected(self, msg: dict[str, Any]) -> list[InboundItem]:
        if self.state != "new":
            return self._error(f"duplicate 'websocket:connected' while {self.state}")
        content_type = str(msg.get("content-type", ""))
        m = _CONTENT_TYPE.match(content_type.strip())
        if m is None:
            return self._error(
                f"unsupported content-type {content_type[:40]!r} "
                "(audio/l16;rate=16000 or audio/l16;rate=8000)",
                fatal=True,
            )
        headers = msg.get("headers")
        fields = headers if isinstance(headers, dict) else {}
        fields = {
            **{k: v for k, v in msg.items() if k not in ("event", "content-type", "headers")},
            **fields,
        }
        params = {
            str(k)[:100]: str(v)[:500]
            for k, v in list(fields.items())[:50]
            if isinstance(v, str | int | float | bool)
        }
        rate = int(m.group(1))
        self.codec = find_codec("l16", rate, (8000, 16000))
        call_id = params.get("uuid") or params.get("call_uuid") or ""
        self.start = StreamStart(
            stream_sid=call_id or f"vonage-{uuid.uuid4().hex}",
            call_sid=call_id,
            tracks=("inbound",),
            custom_parameters=params,
            media_format={"encoding": "audio/l16", "sampleRate": rate, "channels": 1},
        )
        self.state = "started"
        return [Connected("vonage", ""), self.start]

    def _on_audio(self, frame: bytes) -> list[InboundItem]:
        bad = self._started("binary audio")
        if bad is not None:
            return bad
        assert self.codec is not None
        if len(frame) != self.codec.frame_bytes:
            self.bad_frames += 1
            return self._error(
                f"binary frame of {len(frame)} bytes (20 ms at {self.rate} Hz is "
                f"{self.codec.frame_bytes})"
            )
        return self._audio(frame)

    # ------------------------------------------------------------------ outbound

    def _media_frames(self, wire: bytes) -> list[Frame]:
        size = self.codec.frame_bytes if self.codec else 640
        return [wire[i : i + size] for i in range(0, len(wire), size)]

    def _mark_frame(self, name: str) -> Frame:
        return json.dumps({"action": "notify", "payload": {"name": name}}, separators=(",", ":"))

    def _clear_frames(self) -> list[Frame]:
        return [CLEAR]
