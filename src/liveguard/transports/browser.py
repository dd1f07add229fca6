"""The browser route `/browser/stream` and the talk page at `/`.

Wire format (one WebSocket per conversation):
- up, binary: PCM16 mono little-endian at 16 kHz (any size up to 1 s; the page sends 20 ms);
- up, text JSON: `{"type": "start", "sample_rate": 16000}` (optional), `{"type": "text",
  "text": ...}`, `{"type": "hangup"}`;
- down, binary: PCM16 mono at 24 kHz (the model's audio);
- down, text JSON: `ready`, `transcript` (role caller/model), `health`, `verdict`, `recovery`,
  `interrupted`, `clear` (drop queued playback: a real barge-in), `turn_complete`, `error`,
  `shutdown`, `ended`.

`BrowserProtocol` is the sans-I/O part (parse and check what the page sends, turn session items
into messages); `BrowserCall` is the asyncio shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import WSMsgType, web

from liveguard import events as ev
from liveguard.audio.resample import Resampler
from liveguard.guard.actions import FlushPlayback
from liveguard.session.guarded import GuardedSession
from liveguard.session.items import AudioOut, SessionClosed, SessionFailed
from liveguard.telemetry import DOWN, UP
from liveguard.transports.context import ActiveCall, CallTelemetry, RelayContext
from liveguard.transports.twilio import RELAY_KEY

log = logging.getLogger("liveguard.relay.browser")

UP_RATE = 16000
DOWN_RATE = 24000
MAX_FRAME_BYTES = UP_RATE * 2  # 1 s of audio in one message
SEND_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class AudioIn:
    pcm: bytes


@dataclass(frozen=True, slots=True)
class TextIn:
    text: str


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class BadInput:
    reason: str
    fatal: bool = False


BrowserInbound = AudioIn | TextIn | Hangup | BadInput


class BrowserProtocol:
    """Checks the page's messages and renders session items as JSON; never raises on input."""

    def __init__(self, *, max_message_bytes: int = 65536, max_errors: int = 50) -> None:
        self.max_message_bytes = max_message_bytes
        self.max_errors = max_errors
        self.errors = 0
        self.frames_in = 0

    def _bad(self, reason: str, fatal: bool = False) -> list[BrowserInbound]:
        self.errors += 1
        out: list[BrowserInbound] = [BadInput(reason, fatal)]
        if not fatal and self.errors >= self.max_errors:
            out.append(BadInput(f"too many bad messages ({self.errors})", True))
        return out

    def receive_bytes(self, data: bytes) -> list[BrowserInbound]:
        if len(data) > min(self.max_message_bytes, MAX_FRAME_BYTES):
            return self._bad(f"audio message of {len(data)} bytes is too large")
        if len(data) % 2:
            return self._bad(f"PCM16 audio needs an even number of bytes, got {len(data)}")
        if not data:
            return []
        self.frames_in += 1
        return [AudioIn(bytes(data))]

    def receive_text(self, text: str) -> list[BrowserInbound]:
        if len(text) > self.max_message_bytes:
            return self._bad(f"text message of {len(text)} bytes is too large")
        try:
            msg = json.loads(text)
        except ValueError as exc:
            return self._bad(f"invalid JSON: {str(exc)[:80]}")
        if not isinstance(msg, dict):
            return self._bad("message is not a JSON object")
        kind = msg.get("type")
        if kind == "start":
            rate = msg.get("sample_rate", UP_RATE)
            if rate != UP_RATE:
                return self._bad(f"audio must be {UP_RATE} Hz PCM16, page says {rate!r}", True)
            return []
        if kind == "text":
            text_in = msg.get("text")
            if not isinstance(text_in, str) or not text_in.strip():
                return self._bad("'text' needs a non-empty string")
            return [TextIn(text_in[:4000])]
        if kind == "hangup":
            return [Hangup()]
        return self._bad(f"unknown message type {str(kind)[:40]!r}")

    @staticmethod
    def render(item: object) -> dict[str, Any] | None:
        """The JSON message for a session item, or None if the page does not need it."""
        if isinstance(item, ev.InputTranscript):
            return {"type": "transcript", "role": "caller", "text": item.text, "t": item.t}
        if isinstance(item, ev.OutputTranscript):
            return {"type": "transcript", "role": "model", "text": item.text, "t": item.t}
        if isinstance(item, ev.HealthChanged):
            return {"type": "health", "state": item.state, "previous": item.previous, "t": item.t}
        if isinstance(item, ev.Verdict):
            return {"type": "verdict", "kind": item.kind, "turn": item.turn, "t": item.t}
        if isinstance(item, ev.RecoveryStarted):
            return {"type": "recovery", "rung": item.rung, "t": item.t}
        if isinstance(item, ev.RecoveryFinished):
            return {"type": "recovery", "rung": item.rung, "outcome": item.outcome, "t": item.t}
        if isinstance(item, ev.Interrupted):
            return {"type": "interrupted", "turn": item.turn, "t": item.t}
        if isinstance(item, ev.TurnComplete):
            return {"type": "turn_complete", "turn": item.turn, "t": item.t}
        if isinstance(item, ev.TurnAnswered):
            return {"type": "answered", "turn": item.turn, "latency_s": item.latency_s}
        if isinstance(item, FlushPlayback):
            return {"type": "clear"}
        return None


class BrowserCall:
    """One browser conversation: protocol, guarded session, two loops."""

    def __init__(
        self,
        ctx: RelayContext,
        ws: web.WebSocketResponse,
        call: ActiveCall,
        params: dict[str, str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.ws = ws
        self.call = call
        self.params = dict(params or {})  # `?scenario=NAME` picks an emulator scenario
        s = ctx.settings
        self.proto = BrowserProtocol(
            max_message_bytes=s.max_message_bytes, max_errors=s.max_caller_errors
        )
        self.tel: CallTelemetry = ctx.open_telemetry(call.call_id, "browser")
        self.session: GuardedSession | None = None
        self.end_reason = "ended"
        self._down: dict[int, Resampler] = {}

    async def run(self) -> None:
        try:
            await self._run()
        except Exception as exc:
            log.exception("browser call %s failed", self.call.call_id)
            self.tel.caller_error(f"relay error: {type(exc).__name__}: {exc}", fatal=True)
            self.end_reason = f"relay error: {type(exc).__name__}"
        finally:
            await self._finish()

    async def _finish(self) -> None:
        """The page first (shutdown/ended, close), then the session, then the log."""
        try:
            if not self.ws.closed:
                with contextlib.suppress(Exception):
                    if self.call.stop_reason is not None:
                        await self._json({"type": "shutdown", "reason": self.call.stop_reason})
                    await self._json({"type": "ended", "reason": self.end_reason})
                    code = 1001 if self.call.stop_reason is not None else 1000
                    await asyncio.wait_for(
                        self.ws.close(code=code, message=self.end_reason[:120].encode()), 2.0
                    )
            if self.session is not None:
                with contextlib.suppress(Exception):
                    await self.session.close(self.end_reason)
        finally:
            self.ctx.close_telemetry(self.tel, self.end_reason)
            log.info("browser call %s ended: %s", self.call.call_id, self.end_reason)

    async def _run(self) -> None:
        session = GuardedSession(
            self.ctx.settings,
            client=self.ctx.client,
            session_id=self.call.call_id,
            transport="browser",
            on_event=self.tel.sinks,
            headers=self.ctx.session_headers(self.params),
        )
        try:
            await session.start()
        except SessionFailed as exc:
            self.tel.clock = session.now
            self.end_reason = f"upstream: {exc.reason}"[:200]
            await self._json({"type": "error", "reason": self.end_reason})
            return
        self.session = session
        self.tel.clock = session.now
        await self._json(
            {
                "type": "ready",
                "session": self.call.call_id,
                "model": self.ctx.settings.model,
                "emulator": self.ctx.emulated,
                "up_rate": UP_RATE,
                "down_rate": DOWN_RATE,
            }
        )
        caller = asyncio.create_task(self._caller_loop(), name="lg-browser-caller")
        model = asyncio.create_task(self._model_loop(), name="lg-browser-model")
        stopper = asyncio.create_task(self.call.stopping.wait(), name="lg-browser-stop")
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
            if isinstance(exc, ConnectionError):
                self.tel.caller_error(f"browser socket lost: {exc}", fatal=True)
                self.end_reason = "caller dropped"
            elif exc is not None and not isinstance(exc, SessionClosed):
                raise exc

    async def _caller_loop(self) -> None:
        session = self.session
        assert session is not None
        proto, tel, metrics = self.proto, self.tel, self.ctx.metrics
        perf = time.perf_counter
        async for msg in self.ws:
            if msg.type == WSMsgType.BINARY:
                items = proto.receive_bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                items = proto.receive_text(msg.data)
            elif msg.type == WSMsgType.ERROR:
                tel.caller_error(f"websocket error: {self.ws.exception()}", fatal=True)
                self.end_reason = "caller websocket error"
                return
            else:
                break
            for item in items:
                if isinstance(item, AudioIn):
                    t0 = perf()
                    await session.send_audio(item.pcm, UP_RATE)
                    metrics.observe_forwarding(UP, perf() - t0)
                elif isinstance(item, TextIn):
                    await session.send_text(item.text)
                elif isinstance(item, Hangup):
                    self.end_reason = "caller hung up"
                    return
                elif isinstance(item, BadInput):
                    tel.caller_error(item.reason, fatal=item.fatal)
                    await self._json({"type": "error", "reason": item.reason})
                    if item.fatal:
                        self.end_reason = item.reason
                        return
        tel.caller_error(f"browser socket closed without hangup ({self.ws.close_code})", fatal=True)
        self.end_reason = "caller dropped"

    async def _model_loop(self) -> None:
        session = self.session
        assert session is not None
        async for item in session:
            if isinstance(item, AudioOut):
                t0 = time.perf_counter()
                pcm = item.pcm
                if item.rate != DOWN_RATE:
                    r = self._down.get(item.rate)
                    if r is None:
                        r = self._down[item.rate] = Resampler(item.rate, DOWN_RATE)
                    pcm = r.process(pcm)
                await asyncio.wait_for(self.ws.send_bytes(pcm), SEND_TIMEOUT_S)
                self.ctx.metrics.observe_forwarding(DOWN, time.perf_counter() - t0)
                continue
            msg = BrowserProtocol.render(item)
            if msg is not None:
                await self._json(msg)
        if self.end_reason == "ended":
            self.end_reason = session.failure.reason if session.failure else "session ended"

    async def _json(self, msg: dict[str, Any]) -> None:
        await asyncio.wait_for(
            self.ws.send_str(json.dumps(msg, separators=(",", ":"))), SEND_TIMEOUT_S
        )


async def browser_stream(request: web.Request) -> web.StreamResponse:
    ctx = request.app[RELAY_KEY]
    ws = web.WebSocketResponse(
        max_msg_size=ctx.settings.max_message_bytes * 4, compress=False, heartbeat=30.0
    )
    await ws.prepare(request)
    call = ctx.admit("browser")
    if call is None:
        reason = "relay shutting down" if ctx.shutting_down else "relay at capacity"
        await ws.send_str(json.dumps({"type": "error", "reason": reason}))
        await ws.close(code=1013, message=reason.encode())
        return ws
    try:
        params = {k: v for k, v in request.query.items() if k == "scenario"}
        await BrowserCall(ctx, ws, call, params).run()
    finally:
        ctx.release(call)
    return ws


# --------------------------------------------------------------------------- the page


def _static(name: str) -> bytes:
    return resources.files("liveguard.transports").joinpath("static", name).read_bytes()


_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


async def index(request: web.Request) -> web.Response:
    return web.Response(body=_static("index.html"), content_type="text/html", charset="utf-8")


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if "/" in name or name.startswith(".") or not any(name.endswith(e) for e in _CONTENT_TYPES):
        raise web.HTTPNotFound()
    try:
        body = _static(name)
    except (FileNotFoundError, IsADirectoryError):
        raise web.HTTPNotFound() from None
    ctype = _CONTENT_TYPES[name[name.rfind(".") :]]
    return web.Response(body=body, content_type=ctype, charset="utf-8")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static_file)
    app.router.add_get("/browser/stream", browser_stream)
