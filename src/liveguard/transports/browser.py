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
into messages); `BrowserCall` is the asyncio shell (the call lifecycle is `CallBridge`'s).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import WSMsgType, web

from liveguard import events as ev
from liveguard.guard.actions import FlushPlayback
from liveguard.relay.context import RELAY_KEY
from liveguard.relay.resume import new_key, resume_params
from liveguard.session.guarded import GuardedSession
from liveguard.session.items import AudioOut
from liveguard.transports.call import SEND_TIMEOUT_S, CallBridge, Outbound

UP_RATE = 16000
DOWN_RATE = 24000
MAX_FRAME_BYTES = UP_RATE * 2  # 1 s of audio in one message


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


class BrowserCall(CallBridge):
    """One browser conversation: page messages in and out, everything else in `CallBridge`."""

    transport = "browser"

    def __init__(self, *args: Any, params: dict[str, str] | None = None) -> None:
        self.params = dict(params or {})  # `?scenario=NAME` picks an emulator scenario
        super().__init__(*args)

    def _setup(self) -> None:
        s = self.ctx.settings
        self.proto = BrowserProtocol(
            max_message_bytes=s.max_message_bytes, max_errors=s.max_caller_errors
        )

    @staticmethod
    async def _refuse(ws: web.WebSocketResponse, reason: str) -> None:
        # retry: the page reconnects (to another worker or node) after a drain or a full relay
        await ws.send_str(json.dumps({"type": "error", "reason": reason, "retry": True}))
        await CallBridge._refuse(ws, reason)

    async def _run(self) -> None:
        # `?resume=KEY`: the page reconnecting after a drop continues its conversation (on any
        # worker or node, with Redis); the key is the page's secret, handed out in `ready`
        key = resume_params(self.params)
        handle = await self.ctx.handles.load(key) if key else None
        key = key if handle else new_key()
        self.tel.sinks.append(self.ctx.handles.sink(key))
        session = await self._open_session(self.params, handle)
        if session is None and handle is not None:  # the handle expired upstream: start afresh
            self.tel.caller_error(f"resume refused ({self.end_reason}); new conversation")
            key, handle = new_key(), None
            self.tel.sinks[-1] = self.ctx.handles.sink(key)
            session = await self._open_session(self.params)
            if session is not None:
                self.end_reason = "ended"
        if session is None:
            await self._json({"type": "error", "reason": self.end_reason})
            return
        await self._json(
            {
                "type": "ready",
                "session": self.call.call_id,
                "model": self.ctx.settings.model,
                "emulator": self.ctx.emulated,
                "up_rate": UP_RATE,
                "down_rate": DOWN_RATE,
                "resume": key,
                "resumed": handle is not None,
                "worker": os.getpid(),
            }
        )
        await self._bridge()

    async def _goodbye(self) -> None:
        if self.call.stop_reason is not None:
            await self._json({"type": "shutdown", "reason": self.call.stop_reason})
        await self._json({"type": "ended", "reason": self.end_reason})

    # ---- page -> model

    def _parse(self, msg: Any) -> list[BrowserInbound]:
        if msg.type == WSMsgType.BINARY:
            return self.proto.receive_bytes(msg.data)
        return self.proto.receive_text(msg.data)

    async def _from_caller(self, session: GuardedSession, item: Any, received_at: float) -> bool:
        if isinstance(item, AudioIn):
            await session.send_audio(item.pcm, UP_RATE, received_at=received_at)
        elif isinstance(item, TextIn):
            await session.send_text(item.text)
        elif isinstance(item, Hangup):
            self.end_reason = "caller hung up"
            return True
        elif isinstance(item, BadInput):
            self.tel.caller_error(item.reason, fatal=item.fatal)
            await self._json({"type": "error", "reason": item.reason})
            if item.fatal:
                self.end_reason = item.reason
                return True
        return False

    def _caller_gone(self) -> None:
        code = self.ws.close_code
        self.tel.caller_error(f"browser socket closed without hangup ({code})", fatal=True)
        self.end_reason = "caller dropped"

    # ---- model -> page

    def _outbound(self, session: GuardedSession, item: object) -> Outbound | None:
        if isinstance(item, AudioOut):
            pcm = self._at_rate(item, DOWN_RATE)
            return Outbound([pcm], self._forwarded(item, len(pcm) / 2 / DOWN_RATE))
        msg = BrowserProtocol.render(item)
        return None if msg is None else Outbound([json.dumps(msg, separators=(",", ":"))])

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
    params = {k: v for k, v in request.query.items() if k in ("scenario", "resume")}
    await BrowserCall.serve(ctx, ws, request.transport, params=params)
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
