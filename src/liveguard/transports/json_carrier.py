"""What the JSON carriers (Telnyx, Plivo, Exotel) share on top of `CarrierStream`, sans-I/O.

Why a second base: these three speak JSON text frames of one family (an `event` name, a stream id
under a carrier-specific key, a `start` object with a format object, base64 `media.payload`, a
`dtmf.digit`, `mark`/`clear` spelled as Twilio spells them). The dispatch of the common events,
the checks of `start` and the outbound spelling live here once; a subclass names its keys, checks
the format and builds its `StreamStart` (`_start`), and handles its own events (`_on_event`).
Vonage (binary audio) is not one.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from liveguard.transports.carrier import (
    CarrierStream,
    Codec,
    Connected,
    Frame,
    InboundItem,
    StreamStart,
)
from liveguard.transports.json_wire import clear_frame, mark_frame, media_frame

__all__ = ["JsonCarrierStream"]


class JsonCarrierStream(CarrierStream):
    """A carrier whose every message is a JSON text frame with an `event` name."""

    sid_key: ClassVar[str] = "stream_id"  # where the stream id stands in every message
    format_key: ClassVar[str] = "media_format"  # the format object inside `start`
    sid_in_message_first: ClassVar[bool] = False  # whose stream id wins when both carry one
    messages: ClassVar[str] = "stream messages"  # for "binary frame: … are JSON text frames"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connected = False  # a `connected` event was seen (carriers that send one)
        self._sid_json = '""'  # the stream id as a JSON string, for the outbound messages

    # ------------------------------------------------------------------ inbound

    def _receive(self, data: str | bytes) -> list[InboundItem]:
        msg = self._json(data, self.messages)
        if isinstance(msg, list):
            return msg
        event = msg.get("event")
        if event == "media":  # the hot path first
            return self._on_media(msg)
        if event == "start":
            return self._on_start(msg)
        if event == "dtmf":
            bad = self._checked("dtmf", msg)
            dtmf = msg.get("dtmf")
            return bad or self._dtmf(dtmf.get("digit") if isinstance(dtmf, dict) else None)
        return self._on_event(event, msg)

    def _on_event(self, event: Any, msg: dict[str, Any]) -> list[InboundItem]:
        """The carrier's other events; an error for an unknown one."""
        return self._error(f"unknown event {str(event)[:40]!r}")

    def _on_start(self, msg: dict[str, Any]) -> list[InboundItem]:
        fields = self._start_fields(msg)
        if isinstance(fields, list):
            return fields
        return self._start(msg, *fields)

    def _start(
        self, msg: dict[str, Any], start: dict[str, Any], sid: str, fmt: dict[str, Any]
    ) -> list[InboundItem]:
        """The carrier's own checks of a well-formed `start` (its format, its parameters), then
        `_begin`; `start` is the start object, `fmt` its format object, `sid` the stream id."""
        raise NotImplementedError

    def _checked(self, event: str, msg: dict[str, Any]) -> list[InboundItem] | None:
        """An error unless the stream is running and the message is for it."""
        return self._started(event) or self._sid_matches(msg, self.sid_key, event)

    def _on_media(self, msg: dict[str, Any]) -> list[InboundItem]:
        bad = self._checked("media", msg)
        if bad is not None:
            return bad
        wire = self._payload(msg.get("media"))
        return wire if isinstance(wire, list) else self._audio(wire)

    def _on_mark(self, msg: dict[str, Any]) -> list[InboundItem]:
        """A Twilio-style `mark` echo: `{"event":"mark","mark":{"name":…}}`."""
        bad = self._checked("mark", msg)
        mark = msg.get("mark")
        return bad or self._echo(mark.get("name") if isinstance(mark, dict) else None)

    def _on_connected(self, version: str = "") -> list[InboundItem]:
        if self.connected or self.state != "new":
            return self._error("duplicate or late 'connected'")
        self.connected = True
        return [Connected(self.carrier, version)]

    def _on_stop(self, msg: dict[str, Any], reason: str = "stop") -> list[InboundItem]:
        return self._sid_matches(msg, self.sid_key, "stop") or self._stop(reason)

    def _start_fields(
        self, msg: dict[str, Any]
    ) -> tuple[dict[str, Any], str, dict[str, Any]] | list[InboundItem]:
        """`start`'s object, the stream id and the format object; the error list when bad."""
        if self.state != "new":
            return self._error(f"duplicate 'start' while {self.state}")
        start = msg.get("start")
        if not isinstance(start, dict):
            return self._error("'start' without a start object", fatal=True)
        key = self.sid_key
        sid = (
            msg.get(key, start.get(key))
            if self.sid_in_message_first
            else start.get(key, msg.get(key))
        )
        if not isinstance(sid, str) or not sid or len(sid) > 128:
            return self._error(f"'start' without a valid {key}", fatal=True)
        fmt = self._start_object(start, self.format_key)
        return fmt if isinstance(fmt, list) else (start, sid, fmt)

    def _start_object(self, start: dict[str, Any], key: str) -> dict[str, Any] | list[InboundItem]:
        """`start[key]` as an object (absent is empty); a fatal error when it is something else."""
        value = start.get(key) or {}
        if not isinstance(value, dict):
            return self._error(f"'start.{key}' is not an object", fatal=True)
        return value

    def _begin(self, codec: Codec, start: StreamStart) -> list[InboundItem]:
        """The stream runs: `start` is what the caller-facing handler gets."""
        self.codec = codec
        self.start = start
        self._sid_json = json.dumps(start.stream_sid)
        self.state = "started"
        return [start]

    # ------------------------------------------------------------------ outbound

    def _media_frames(self, wire: bytes) -> list[Frame]:
        return [media_frame(self.sid_key, self._sid_json, wire)]

    def _mark_frame(self, name: str) -> Frame:
        return mark_frame(self.sid_key, self._sid_json, name)

    def _clear_frames(self) -> list[Frame]:
        return [clear_frame(self.sid_key, self._sid_json)]
