"""The Twilio routes: `POST /twilio/voice` (TwiML) and the `/twilio/stream` Media Stream WebSocket.

The handler is a thin shell: `TwilioMediaStream` (twilio_protocol.py) decides everything about
the wire, `GuardedSession` everything about the model, `CallBridge` (call.py) the call's
lifecycle. Per call two loops run:

- caller → model: text frame → protocol → μ-law decode → `session.send_audio(pcm, 8000)`;
  DTMF → `session.send_text`; marks → playout accounting; bad input → a logged `CallerError`
  (the message is dropped, or the call ends for fatal errors). Other calls never notice.
- model → caller: `AudioOut` 24 kHz → stateful resample to 8 kHz → μ-law → 20 ms `media` frames
  and a `mark` per chunk; `FlushPlayback` (a real barge-in, as the guard decided) → `clear`;
  `TurnComplete` → the tail frame and a turn-end mark. Phantom interrupts produce no
  FlushPlayback, so nothing is cleared.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from liveguard import events as ev
from liveguard.audio import mulaw
from liveguard.guard.actions import FlushPlayback
from liveguard.relay.context import RELAY_KEY, RelayContext
from liveguard.session.guarded import GuardedSession
from liveguard.session.items import AudioOut
from liveguard.transports.call import CallBridge, Outbound
from liveguard.transports.signature import validate_signature
from liveguard.transports.twilio_protocol import (
    SAMPLE_RATE,
    DtmfIn,
    MarkPlayed,
    MediaIn,
    ProtocolError,
    StreamStart,
    StreamStop,
    TwilioMediaStream,
)
from liveguard.transports.twiml import connect_stream, stream_url

log = logging.getLogger("liveguard.relay.twilio")

START_TIMEOUT_S = 10.0  # a stream that sends no `start` within this is ended
_VOICE_PARAMS = ("CallSid", "From", "To", "AccountSid", "Direction")


# --------------------------------------------------------------------------- POST /twilio/voice


def _request_url(request: web.Request, public_url: str | None) -> str:
    """The URL Twilio signed: the configured public URL's origin, or what the request says."""
    if public_url:
        base = public_url.rstrip("/")
        for prefix in ("wss://", "ws://"):
            if base.startswith(prefix):
                base = ("https://" if prefix == "wss://" else "http://") + base[len(prefix) :]
        return base + request.rel_url.path_qs
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    return f"{proto}://{request.host}{request.rel_url.path_qs}"


def _require_signature(
    request: web.Request,
    ctx: RelayContext,
    signed_url: Callable[[web.Request, str | None], str],
    params: list[tuple[str, str]],
    what: str,
) -> None:
    """403 unless the request carries a valid X-Twilio-Signature (when a token is configured)."""
    token = ctx.settings.twilio_auth_token
    if token is None or not token.get_secret_value():
        return
    url = signed_url(request, ctx.settings.public_url)
    sig = request.headers.get("X-Twilio-Signature")
    if not validate_signature(token.get_secret_value(), url, params, sig):
        log.warning("twilio %s: %s X-Twilio-Signature", what, "bad" if sig else "missing")
        raise web.HTTPForbidden(text="invalid X-Twilio-Signature\n")


async def twilio_voice(request: web.Request) -> web.Response:
    """TwiML connecting the call to our Media Stream; 403 on a bad X-Twilio-Signature."""
    ctx = request.app[RELAY_KEY]
    form = await request.post() if request.method == "POST" else {}
    items = [(k, v) for k, v in form.items() if isinstance(v, str)]
    _require_signature(request, ctx, _request_url, items, "voice webhook")
    if ctx.refusal() is not None:
        body = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy"/></Response>'
        return web.Response(text=body, content_type="text/xml")
    try:
        url = stream_url(
            ctx.settings.public_url,
            request.host,
            request.scheme,
            request.headers.get("X-Forwarded-Proto"),
        )
    except ValueError as exc:
        raise web.HTTPInternalServerError(text=f"{exc}\n") from None
    params = {k: str(form[k]) for k in _VOICE_PARAMS if k in form}
    return web.Response(text=connect_stream(url, params), content_type="text/xml")


# --------------------------------------------------------------------------- /twilio/stream


class TwilioCall(CallBridge):
    """One phone call: Media Stream messages in and out, everything else in `CallBridge`."""

    transport = "twilio"

    def _setup(self) -> None:
        s = self.ctx.settings
        self.proto = TwilioMediaStream(
            max_message_bytes=s.max_message_bytes, max_errors=s.max_caller_errors
        )
        self._overflow_logged = False
        self._pending_errors: list[tuple[str, bool]] = []
        self._session_logged = False  # a GuardedSession logged its own start and end

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
        log.info(
            "call %s started: stream %s call %s",
            self.call.call_id,
            start.stream_sid[:40],
            start.call_sid[:40],
        )
        await self._bridge()

    def _log_pending_errors(self) -> None:
        """Errors from before the call had a session clock, now that its log is open."""
        for reason, fatal in self._pending_errors:
            self.tel.caller_error(reason, fatal=fatal)
        self._pending_errors.clear()

    def _finish_log(self) -> None:
        if self.session is None and not self._session_logged:
            # the call never reached the model: still a complete log, start to end
            call_id = self.call.call_id
            self.tel.emit(ev.SessionStarted(t=0.0, session_id=call_id, transport="twilio"))
            self._log_pending_errors()
            self.tel.emit(ev.SessionEnded(t=0.0, reason=self.end_reason))
        self._pending_errors.clear()

    def _close_code(self) -> int:
        if self.call.stop_reason is not None:
            return 1001
        return 1000 if self.end_reason in ("caller hung up", "ended") else 1008

    async def _await_start(self) -> StreamStart | None:
        """Read until `start`; errors before it are kept and logged once the call has a log."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._pending_errors.append(("no 'start' event within 10 s", True))
                self.end_reason = "no start"
                return None
            try:
                msg = await self.ws.receive(timeout=left)
            except TimeoutError:
                continue
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                self._pending_errors.append(("socket closed before 'start'", True))
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
        if isinstance(item, MediaIn):
            # forwarding time is reported by the session through `on_forwarded`
            pcm = mulaw.decode(item.payload)
            await session.send_audio(pcm, SAMPLE_RATE, received_at=received_at)
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
        if self.proto.connection_lost() is not None:
            code = self.ws.close_code
            self.tel.caller_error(f"caller socket dropped mid-call (close code {code})", fatal=True)
            self.end_reason = "caller dropped"
        else:
            self.end_reason = "caller hung up"

    # ---- model -> caller

    def _outbound(self, session: GuardedSession, item: object) -> Outbound | None:
        if isinstance(item, AudioOut):
            return self._play(item)
        if isinstance(item, FlushPlayback):
            msg, unplayed = self.proto.clear()
            for r in self._down.values():
                r.reset()

            def cleared() -> None:
                self.tel.emit(
                    ev.PlayoutCleared(
                        t=session.now(), unplayed_s=round(unplayed, 3), reason="barge-in"
                    )
                )
                log.debug("call %s: clear, %.2f s unplayed", self.call.call_id, unplayed)

            return Outbound([msg], cleared)
        if isinstance(item, ev.TurnComplete | ev.Interrupted):
            frames = self.proto.flush()
            return Outbound(frames) if frames else None
        return None

    def _play(self, audio: AudioOut) -> Outbound | None:
        pcm = self._at_rate(audio, SAMPLE_RATE)
        if self.proto.unplayed_s > self.ctx.settings.outbound_queue_s:
            if not self._overflow_logged:
                self._overflow_logged = True
                self.tel.caller_error(
                    f"caller has not confirmed playout of {self.proto.unplayed_s:.1f} s "
                    "(marks not echoed); dropping model audio"
                )
            return None
        frames = self.proto.send_audio(mulaw.encode(pcm))
        if not frames:
            return None
        return Outbound(frames, self._forwarded(audio, len(pcm) / 2 / SAMPLE_RATE))


def _stream_request_url(request: web.Request, public_url: str | None) -> str:
    """The wss:// URL Twilio signed when it opened the stream."""
    https = _request_url(request, public_url)
    return ("wss://" + https[8:]) if https.startswith("https://") else ("ws://" + https[7:])


async def twilio_stream(request: web.Request) -> web.StreamResponse:
    """The Media Stream WebSocket: one `TwilioCall` per connection.

    With a Twilio auth token configured the upgrade request must carry a valid
    X-Twilio-Signature (Twilio signs the stream URL, with no parameters); else 403.
    """
    ctx = request.app[RELAY_KEY]
    _require_signature(request, ctx, _stream_request_url, [], "stream")
    ws = web.WebSocketResponse(
        max_msg_size=ctx.settings.max_message_bytes * 4,  # beyond the protocol's own limit
        compress=False,
        heartbeat=None,
    )
    await ws.prepare(request)
    await TwilioCall.serve(ctx, ws, request.transport)
    return ws


def add_routes(app: web.Application) -> None:
    app.router.add_post("/twilio/voice", twilio_voice)
    app.router.add_get("/twilio/stream", twilio_stream)
