"""One handler for every other carrier: a `CarrierProtocol` object over the shared `CallBridge`.

Why one: once a carrier's protocol object (telnyx_protocol.py, plivo_protocol.py, ...) has turned
its wire into typed items (`StreamStart`, `AudioIn`, `MarkPlayed`, `DtmfIn`, `StreamStop`,
`ProtocolError`) and takes PCM16 at its own rate back, what the relay does with a call is the
same for all of them, and the same as for Twilio:

- caller → model: `AudioIn` → `session.send_audio(pcm, proto.rate)`; DTMF → `session.send_text`;
  marker echoes → `PlayoutMark` at a turn's end; bad input → a logged `CallerError` (dropped, or
  the call ends for fatal errors). Other calls never notice.
- model → caller: `AudioOut` → stateful resample to the stream's rate → the carrier's media
  messages and a marker; `FlushPlayback` (a real barge-in) → the carrier's clear; `TurnComplete`
  → the tail and a turn-end marker.

The carrier's name is the call's transport: in the session log's `session_start`, the metrics and
the dashboard.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from liveguard import events as ev
from liveguard.guard.actions import FlushPlayback
from liveguard.relay.context import RELAY_KEY, RelayContext
from liveguard.session.guarded import GuardedSession
from liveguard.session.items import AudioOut
from liveguard.transports.call import CallBridge, Outbound
from liveguard.transports.carrier import (
    AudioIn,
    CarrierProtocol,
    DtmfIn,
    MarkPlayed,
    ProtocolError,
    StreamStart,
    StreamStop,
)

START_TIMEOUT_S = 10.0  # a stream that does not start within this is ended
_CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)

ProtocolFactory = Callable[[RelayContext, web.Request], CarrierProtocol]


class CarrierCall(CallBridge):
    """One call on a carrier's media stream, its protocol object given (`proto=`) or made by
    `_make_proto` (Twilio's handler, twilio.py, is this class with Twilio's protocol object)."""

    transport = "carrier"

    def __init__(self, *args: Any, proto: CarrierProtocol | None = None, **kwargs: Any) -> None:
        self._given_proto = proto
        super().__init__(*args, **kwargs)

    def _make_proto(self) -> CarrierProtocol:
        raise NotImplementedError("give the protocol object or override _make_proto")

    def _setup(self) -> None:
        given = self._given_proto
        self.proto = given if given is not None else self._make_proto()
        self._overflow_logged = False
        self._pending_errors: list[tuple[str, bool]] = []
        self._session_logged = False

    # ---- lifecycle

    async def _run(self) -> None:
        start = await self._await_start()
        if start is None:
            return
        self._session_logged = True
        session = await self._open_session(start.custom_parameters)
        self._log_pending_errors()
        if session is None:
            return
        self.log.info(
            "%s call %s started: stream %s call %s",
            self.transport,
            self.call.call_id,
            start.stream_sid[:40],
            start.call_sid[:40],
        )
        await self._bridge()

    def _log_pending_errors(self) -> None:
        for reason, fatal in self._pending_errors:
            self.tel.caller_error(reason, fatal=fatal)
        self._pending_errors.clear()

    def _finish_log(self) -> None:
        if self.session is None and not self._session_logged:
            call_id = self.call.call_id
            self.tel.emit(ev.SessionStarted(t=0.0, session_id=call_id, transport=self.transport))
            self._log_pending_errors()
            self.tel.emit(ev.SessionEnded(t=0.0, reason=self.end_reason))
        self._pending_errors.clear()

    def _close_code(self) -> int:
        if self.call.stop_reason is not None:
            return 1001
        return 1000 if self.end_reason in ("caller hung up", "ended") else 1008

    async def _await_start(self) -> StreamStart | None:
        """Read until the stream starts; errors before it are logged once the call has a log."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._pending_errors.append(
                    (f"stream did not start within {START_TIMEOUT_S:g} s", True)
                )
                self.end_reason = "no start"
                return None
            try:
                msg = await self.ws.receive(timeout=left)
            except TimeoutError:
                continue
            if msg.type in _CLOSED:
                self._pending_errors.append(("socket closed before the stream started", True))
                self.end_reason = "dropped before start"
                return None
            data = msg.data if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY) else ""
            for item in self.proto.receive(data):
                if isinstance(item, StreamStart):
                    return item
                if isinstance(item, ProtocolError):
                    if len(self._pending_errors) < 100:
                        self._pending_errors.append((item.reason, item.fatal))
                    if item.fatal:
                        self.end_reason = item.reason
                        return None
            if self.call.stopping.is_set():
                self.end_reason = self.call.stop_reason or "relay shutting down"
                return None

    def _socket_lost(self, exc: ConnectionError) -> None:
        if self.proto.connection_lost() is not None:
            self.tel.caller_error(f"caller socket lost: {exc}", fatal=True)

    # ---- caller -> model

    def _parse(self, msg: Any) -> list[Any]:
        return self.proto.receive(msg.data)

    async def _from_caller(self, session: GuardedSession, item: Any, received_at: float) -> bool:
        if isinstance(item, AudioIn):
            await session.send_audio(item.pcm, self.proto.rate, received_at=received_at)
        elif isinstance(item, MarkPlayed):
            if item.turn_end and not item.cleared:
                self.tel.emit(
                    ev.PlayoutMark(t=session.now(), mark=item.name, played_s=item.played_s)
                )
        elif isinstance(item, DtmfIn):
            self.tel.emit(ev.CallerDtmf(t=session.now(), digit=item.digit))
            text = self.ctx.settings.dtmf_text
            if text:
                await session.send_text(text.format(digit=item.digit))
        elif isinstance(item, ProtocolError):
            self.tel.caller_error(item.reason, fatal=item.fatal)
            if item.fatal:
                self.end_reason = item.reason
                return True
        elif isinstance(item, StreamStop):
            self.end_reason = "caller hung up"
            return True
        return False

    def _caller_gone(self) -> None:
        code = self.ws.close_code
        if self.proto.connection_lost(clean=code in (1000, 1001)) is not None:
            self.tel.caller_error(f"caller socket dropped mid-call (close code {code})", fatal=True)
            self.end_reason = "caller dropped"
        else:
            self.end_reason = "caller hung up"

    # ---- model -> caller

    def _outbound(self, session: GuardedSession, item: object) -> Outbound | None:
        if isinstance(item, AudioOut):
            return self._play(item)
        if isinstance(item, FlushPlayback):
            frames, unplayed = self._clear()
            for r in self._down.values():
                r.reset()

            def cleared() -> None:
                self.tel.emit(
                    ev.PlayoutCleared(
                        t=session.now(), unplayed_s=round(unplayed, 3), reason="barge-in"
                    )
                )
                self.log.debug("call %s: clear, %.2f s unplayed", self.call.call_id, unplayed)

            return Outbound(frames, cleared)
        if isinstance(item, ev.TurnComplete | ev.Interrupted):
            frames = self.proto.flush()
            return Outbound(frames) if frames else None
        return None

    def _play(self, audio: AudioOut) -> Outbound | None:
        rate = self.proto.rate
        pcm = self._at_rate(audio, rate)
        if self.proto.unplayed_s > self.ctx.settings.outbound_queue_s:
            if not self._overflow_logged:
                self._overflow_logged = True
                self.tel.caller_error(
                    f"caller has not confirmed playout of {self.proto.unplayed_s:.1f} s "
                    "(markers not echoed); dropping model audio"
                )
            return None
        frames = self._encode(pcm)
        if not frames:
            return None
        return Outbound(frames, self._forwarded(audio, len(pcm) / 2 / rate))

    def _encode(self, pcm: bytes) -> list[Any]:
        """Model PCM at the stream's rate → the carrier's messages (and marker)."""
        return self.proto.send_audio(pcm)

    def _clear(self) -> tuple[list[Any], float]:
        """The carrier's clear messages and the seconds the caller will not hear."""
        return self.proto.clear()


def stream_handler(transport: str, make_proto: ProtocolFactory) -> Callable[[web.Request], Any]:
    """The aiohttp WebSocket route for one carrier: one `CarrierCall` named `transport` per
    connection, its protocol object from `make_proto(ctx, request)`."""
    call_cls = type(f"{transport.title()}Call", (CarrierCall,), {"transport": transport})

    async def handler(request: web.Request) -> web.StreamResponse:
        ctx = request.app[RELAY_KEY]
        ws = web.WebSocketResponse(
            max_msg_size=ctx.settings.max_message_bytes * 4,  # beyond the protocol's own limit
            compress=False,
            heartbeat=None,
        )
        await ws.prepare(request)
        await call_cls.serve(ctx, ws, request.transport, proto=make_proto(ctx, request))
        return ws

    return handler
