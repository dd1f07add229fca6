"""The Twilio routes: `POST /twilio/voice` (TwiML) and the `/twilio/stream` Media Stream WebSocket.

The handler is a thin shell: `TwilioMediaStream` (twilio_protocol.py) decides everything about
the wire, `GuardedSession` everything about the model. Per call two loops run:

- caller → model: text frame → protocol → μ-law decode → `session.send_audio(pcm, 8000)`;
  DTMF → `session.send_text`; marks → playout accounting; bad input → a logged `CallerError`
  (the message is dropped, or the call ends for fatal errors). Other calls never notice.
- model → caller: `AudioOut` 24 kHz → stateful resample to 8 kHz → μ-law → 20 ms `media` frames
  and a `mark` per chunk; `FlushPlayback` (a real barge-in, as the guard decided) → `clear`;
  `TurnComplete` → the tail frame and a turn-end mark. Phantom interrupts produce no
  FlushPlayback, so nothing is cleared.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from functools import partial
from typing import Any

from aiohttp import WSMsgType, web

from liveguard import events as ev
from liveguard.audio import mulaw
from liveguard.audio.resample import Resampler
from liveguard.guard.actions import FlushPlayback
from liveguard.session.guarded import GuardedSession
from liveguard.session.items import AudioOut, SessionClosed, SessionFailed
from liveguard.telemetry import DOWN, UP
from liveguard.transports.context import ActiveCall, CallTelemetry, RelayContext
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

RELAY_KEY: web.AppKey[RelayContext] = web.AppKey("liveguard_relay", RelayContext)
START_TIMEOUT_S = 10.0  # a stream that sends no `start` within this is ended
SEND_TIMEOUT_S = 10.0  # a caller that stops reading for this long is ended
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


async def twilio_voice(request: web.Request) -> web.Response:
    """TwiML connecting the call to our Media Stream; 403 on a bad X-Twilio-Signature."""
    ctx = request.app[RELAY_KEY]
    form = await request.post() if request.method == "POST" else {}
    items = [(k, v) for k, v in form.items() if isinstance(v, str)]
    token = ctx.settings.twilio_auth_token
    if token is not None and token.get_secret_value():
        url = _request_url(request, ctx.settings.public_url)
        sig = request.headers.get("X-Twilio-Signature")
        if not validate_signature(token.get_secret_value(), url, items, sig):
            log.warning("twilio voice webhook: %s X-Twilio-Signature", "bad" if sig else "missing")
            raise web.HTTPForbidden(text="invalid X-Twilio-Signature\n")
    if ctx.shutting_down or len(ctx.calls) >= ctx.settings.max_calls:
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


class TwilioCall:
    """One phone call: the protocol, the guarded session, and the two loops between them."""

    def __init__(self, ctx: RelayContext, ws: web.WebSocketResponse, call: ActiveCall) -> None:
        self.ctx = ctx
        self.ws = ws
        self.call = call
        s = ctx.settings
        self.proto = TwilioMediaStream(
            max_message_bytes=s.max_message_bytes, max_errors=s.max_caller_errors
        )
        self.tel: CallTelemetry = ctx.open_telemetry(call.call_id, "twilio")
        self.session: GuardedSession | None = None
        self.end_reason = "ended"
        self._down: dict[int, Resampler] = {}
        self._overflow_logged = False
        self._pending_errors: list[tuple[str, bool]] = []
        self._session_logged = False  # a GuardedSession logged its own start and end

    # ---- run

    async def run(self) -> None:
        try:
            start = await self._await_start()
            if start is None:
                return
            await self._run_session(start)
        except Exception as exc:  # never let one call's bug escape into the server
            log.exception("call %s failed", self.call.call_id)
            self.tel.caller_error(f"relay error: {type(exc).__name__}: {exc}", fatal=True)
            self.end_reason = f"relay error: {type(exc).__name__}"
        finally:
            await self._finish()

    async def _finish(self) -> None:
        """Caller first (stop playing, close the stream), then the session, then the log."""
        try:
            if not self.ws.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        self.ws.close(
                            code=self._close_code(), message=self.end_reason[:120].encode()
                        ),
                        2.0,
                    )
            if self.session is not None:
                with contextlib.suppress(Exception):
                    await self.session.close(self.end_reason)
            if self.session is None and not self._session_logged:
                # the call never reached the model: still a complete log, start to end
                self.tel.emit(
                    ev.SessionStarted(t=0.0, session_id=self.call.call_id, transport="twilio")
                )
                for reason, fatal in self._pending_errors:
                    self.tel.caller_error(reason, fatal=fatal)
                self.tel.emit(ev.SessionEnded(t=0.0, reason=self.end_reason))
            self._pending_errors.clear()
        finally:
            self.ctx.close_telemetry(self.tel, self.end_reason)
            log.info("call %s ended: %s", self.call.call_id, self.end_reason)

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

    async def _run_session(self, start: StreamStart) -> None:
        params = start.custom_parameters
        session = GuardedSession(
            self.ctx.settings,
            client=self.ctx.client,
            session_id=self.call.call_id,
            transport="twilio",
            on_event=self.tel.sinks,
            headers=self.ctx.session_headers(params),
        )
        self._session_logged = True
        try:
            await session.start()
        except SessionFailed as exc:
            self.end_reason = f"upstream: {exc.reason}"[:200]
            self.tel.clock = session.now
            for reason, fatal in self._pending_errors:
                self.tel.caller_error(reason, fatal=fatal)
            return
        self.session = session
        session.on_forwarded = partial(self.ctx.metrics.observe_forwarding, UP)
        self.tel.clock = session.now
        for reason, fatal in self._pending_errors:
            self.tel.caller_error(reason, fatal=fatal)
        self._pending_errors.clear()
        log.info(
            "call %s started: stream %s call %s",
            self.call.call_id,
            start.stream_sid[:40],
            start.call_sid[:40],
        )
        caller = asyncio.create_task(self._caller_loop(), name="lg-twilio-caller")
        model = asyncio.create_task(self._model_loop(), name="lg-twilio-model")
        stopper = asyncio.create_task(self.call.stopping.wait(), name="lg-twilio-stop")
        done, _ = await asyncio.wait({caller, model, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            self.end_reason = self.call.stop_reason or "relay shutting down"
        for task in (caller, model, stopper):
            task.cancel()
        for task in (caller, model, stopper):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in done:
            exc = task.exception() if not task.cancelled() else None
            if isinstance(exc, ConnectionError):  # the caller's socket went away while we sent
                if self.proto.connection_lost() is not None:
                    self.tel.caller_error(f"caller socket lost: {exc}", fatal=True)
                self.end_reason = "caller dropped"
            elif isinstance(exc, SessionClosed):
                pass
            elif exc is not None:
                raise exc

    # ---- caller -> model

    async def _caller_loop(self) -> None:
        session = self.session
        assert session is not None
        proto, tel = self.proto, self.tel
        perf = time.perf_counter
        async for msg in self.ws:
            received_at = perf()
            if msg.type == WSMsgType.TEXT or msg.type == WSMsgType.BINARY:
                items = proto.receive(msg.data)
            elif msg.type == WSMsgType.ERROR:
                tel.caller_error(f"websocket error: {self.ws.exception()}", fatal=True)
                self.end_reason = "caller websocket error"
                return
            else:
                break
            for item in items:
                if isinstance(item, MediaIn):
                    # forwarding time (message in -> on the upstream socket) is reported by the
                    # session through `on_forwarded`, also for frames that had to be queued
                    await session.send_audio(
                        mulaw.decode(item.payload), SAMPLE_RATE, received_at=received_at
                    )
                elif isinstance(item, MarkPlayed):
                    if item.turn_end and not item.cleared:
                        tel.emit(
                            ev.PlayoutMark(t=session.now(), mark=item.name, played_s=item.played_s)
                        )
                elif isinstance(item, DtmfIn):
                    tel.emit(ev.CallerDtmf(t=session.now(), digit=item.digit))
                    text = self.ctx.settings.dtmf_text
                    if text:
                        await session.send_text(text.format(digit=item.digit))
                elif isinstance(item, ProtocolError):
                    tel.caller_error(item.reason, fatal=item.fatal)
                    if item.fatal:
                        self.end_reason = item.reason
                        return
                elif isinstance(item, StreamStop):
                    self.end_reason = "caller hung up"
                    return
        if proto.connection_lost() is not None:
            code = self.ws.close_code
            tel.caller_error(f"caller socket dropped mid-call (close code {code})", fatal=True)
            self.end_reason = "caller dropped"
        else:
            self.end_reason = "caller hung up"

    # ---- model -> caller

    async def _model_loop(self) -> None:
        session = self.session
        assert session is not None
        async for item in session:
            if isinstance(item, AudioOut):
                await self._play(item)
            elif isinstance(item, FlushPlayback):
                msg, unplayed = self.proto.clear()
                for r in self._down.values():
                    r.reset()
                await self._send([msg])
                self.tel.emit(
                    ev.PlayoutCleared(
                        t=session.now(), unplayed_s=round(unplayed, 3), reason="barge-in"
                    )
                )
                log.debug("call %s: clear, %.2f s unplayed", self.call.call_id, unplayed)
            elif isinstance(item, ev.TurnComplete | ev.Interrupted):
                await self._send(self.proto.flush())
        reason = session.failure.reason if session.failure else "session ended"
        if self.end_reason == "ended":
            self.end_reason = reason

    async def _play(self, audio: AudioOut) -> None:
        pcm = audio.pcm
        if audio.rate != SAMPLE_RATE:
            r = self._down.get(audio.rate)
            if r is None:
                r = self._down[audio.rate] = Resampler(audio.rate, SAMPLE_RATE)
            pcm = r.process(pcm)
        if self.proto.unplayed_s > self.ctx.settings.outbound_queue_s:
            if not self._overflow_logged:
                self._overflow_logged = True
                self.tel.caller_error(
                    f"caller has not confirmed playout of {self.proto.unplayed_s:.1f} s "
                    "(marks not echoed); dropping model audio"
                )
            return
        frames = self.proto.send_audio(mulaw.encode(pcm))
        await self._send(frames)
        session = self.session
        if audio.event is not None and session is not None and frames:
            # upstream message received -> its last media frame written to the caller's socket
            self.ctx.metrics.observe_forwarding(DOWN, max(0.0, session.now() - audio.event.t))

    async def _send(self, frames: list[str]) -> None:
        # one timer for the batch (not `wait_for` per frame: that made a task per frame)
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                for frame in frames:
                    await self.ws.send_str(frame)
        except TimeoutError:
            raise ConnectionError("caller stopped reading") from None


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
    s = ctx.settings
    token = s.twilio_auth_token
    if token is not None and token.get_secret_value():
        url = _stream_request_url(request, s.public_url)
        sig = request.headers.get("X-Twilio-Signature")
        if not validate_signature(token.get_secret_value(), url, [], sig):
            log.warning("twilio stream: %s X-Twilio-Signature", "bad" if sig else "missing")
            raise web.HTTPForbidden(text="invalid X-Twilio-Signature\n")
    ws = web.WebSocketResponse(
        max_msg_size=s.max_message_bytes * 4,  # beyond the protocol's own limit: aiohttp closes
        compress=False,
        heartbeat=None,
    )
    await ws.prepare(request)
    call = ctx.admit("twilio")
    if call is None:
        reason = "relay shutting down" if ctx.shutting_down else "relay at capacity"
        log.warning("twilio stream refused: %s", reason)
        await ws.close(code=1013, message=reason.encode())
        return ws
    try:
        await TwilioCall(ctx, ws, call).run()
    finally:
        ctx.release(call)
    return ws


def add_routes(app: web.Application) -> None:
    app.router.add_post("/twilio/voice", twilio_voice)
    app.router.add_get("/twilio/stream", twilio_stream)


def describe(call: TwilioCall) -> dict[str, Any]:
    """Playout figures of a call (tests and the dashboard)."""
    p = call.proto
    return {
        "frames_in": p.frames_in,
        "frames_out": p.frames_out,
        "sent_s": round(p.sent_s, 3),
        "played_s": round(p.played_s, 3),
        "cleared_s": round(p.cleared_s, 3),
        "unplayed_s": round(p.unplayed_s, 3),
    }
