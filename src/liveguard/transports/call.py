"""The call lifecycle both transports share: session setup, the two loops, shutdown, clean-up.

Why a base class: a browser conversation and a phone call differ only in their wire format. Opening
the guarded session, wiring telemetry, racing the caller loop against the model loop and the
relay's stop signal, and ending in the right order (caller, then session, then log) must behave
the same for both, so it lives here once. A subclass says how to read the caller's messages
(`_parse`, `_from_caller`) and what a session item becomes on the caller's socket (`_outbound`).

Model → caller takes the short way when it can: the session hands each item to `_deliver_now`
from its own receiving task, and while the model loop is idle and the caller's socket is not
backed up, the item's messages are written there and then, all in one write (one syscall, no
task hop, no loop iteration of delay). Otherwise the item waits in the session's stream for
`_model_loop`, whose sends wait for the socket to drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from liveguard.audio.resample import Resampler
from liveguard.audio.wav import WavFormatError, read_wav
from liveguard.events import TurnComplete
from liveguard.fastpath.caller_ws import encode_frames, raw_socket
from liveguard.relay.context import ActiveCall, CallTelemetry, RelayContext
from liveguard.session.guarded import GuardedSession
from liveguard.session.items import AudioOut, SessionClosed, SessionFailed
from liveguard.telemetry import DOWN, UP

_DATA = (WSMsgType.TEXT, WSMsgType.BINARY)
SEND_TIMEOUT_S = 10.0  # a caller that stops reading for this long is ended
WRITE_NOW_LIMIT = 64 * 1024  # write straight to the socket only below this much unsent data


@dataclass(slots=True)
class Outbound:
    """What one session item becomes for the caller: WebSocket messages (text `str`, binary
    `bytes`), and what to do once they are written (metrics, events)."""

    frames: Sequence[str | bytes]
    written: Callable[[], None] | None = None


class CallBridge:
    """One call: a caller WebSocket, a guarded session, and the loops between them."""

    transport: ClassVar[str]

    def __init__(
        self,
        ctx: RelayContext,
        ws: web.WebSocketResponse,
        call: ActiveCall,
        raw: asyncio.WriteTransport | None = None,
    ) -> None:
        self.ctx = ctx
        self.ws = ws
        self.call = call
        # the socket under `ws` (`request.transport`), for writes without a hop; None when the
        # shortcut is off (liveguard.fastpath.caller_ws): then every frame takes ws.send_*
        self.raw = raw_socket(ws, raw)
        self._playing = False  # the model loop is between taking an item and having sent it
        self.log = logging.getLogger(f"liveguard.relay.{self.transport}")
        self.tel: CallTelemetry = ctx.open_telemetry(call.call_id, self.transport)
        self.session: GuardedSession | None = None
        self.end_reason = "ended"
        self._down: dict[int, Resampler] = {}
        self._setup()

    def _setup(self) -> None:
        """A transport's own per-call state (its protocol object); nothing by default."""

    @classmethod
    async def serve(
        cls,
        ctx: RelayContext,
        ws: web.WebSocketResponse,
        raw: asyncio.WriteTransport | None,
        **kwargs: Any,
    ) -> None:
        """Admit, run and release one call on a prepared socket (`raw` is the socket under it);
        refuse it if the relay is full. `kwargs` go to the transport's constructor."""
        call = ctx.admit(cls.transport)
        if call is None:
            reason = ctx.refusal() or "relay at capacity"
            logging.getLogger(f"liveguard.relay.{cls.transport}").warning(
                "%s call refused: %s", cls.transport, reason
            )
            await cls._refuse(ws, reason)
            return
        try:
            await cls(ctx, ws, call, raw, **kwargs).run()
        finally:
            ctx.release(call)

    @staticmethod
    async def _refuse(ws: web.WebSocketResponse, reason: str) -> None:
        await ws.close(code=1013, message=reason.encode())

    # ---------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        try:
            await self._run()
        except Exception as exc:  # never let one call's bug escape into the server
            self.log.exception("%s call %s failed", self.transport, self.call.call_id)
            self.tel.caller_error(f"relay error: {type(exc).__name__}: {exc}", fatal=True)
            self.end_reason = f"relay error: {type(exc).__name__}"
        finally:
            await self._finish()

    async def _run(self) -> None:
        raise NotImplementedError

    async def _finish(self) -> None:
        """The caller first (goodbye, close), then the session, then the log."""
        try:
            if not self.ws.closed:
                if self.call.goodbye:
                    await self._say_goodbye()
                with contextlib.suppress(Exception):
                    await self._goodbye()
                    message = self.end_reason[:120].encode()
                    await asyncio.wait_for(
                        self.ws.close(code=self._close_code(), message=message), 2.0
                    )
            if self.session is not None:
                with contextlib.suppress(Exception):
                    await self.session.close(self.end_reason)
            self._finish_log()
        finally:
            self.ctx.close_telemetry(self.tel, self.end_reason)
            reason = self.end_reason
            self.log.info("%s call %s ended: %s", self.transport, self.call.call_id, reason)

    async def _goodbye(self) -> None:
        """Last words to the caller before the socket closes (none by default)."""

    async def _say_goodbye(self) -> None:
        """The fallback WAV to the caller, waited out (a drain that ran out of time ends the
        call politely instead of cutting it); nothing without `fallback_audio`."""
        path = self.ctx.settings.fallback_audio
        if path is None or self.session is None:
            return
        try:
            audio = read_wav(path)
        except (OSError, WavFormatError) as exc:
            self.log.error("cannot play the goodbye %s: %s", path.name, exc)
            return
        pcm, rate = audio.pcm, audio.sample_rate
        step = rate * 2 // 10  # 100 ms pieces, as the guard plays it
        try:
            for i in range(0, len(pcm), step):
                piece = AudioOut(pcm[i : i + step], rate, None, "fallback")
                out = self._outbound(self.session, piece)
                if out is not None:
                    await self._send(out.frames)
            tail = self._outbound(self.session, TurnComplete(t=self.session.now(), turn=0))
            if tail is not None:
                await self._send(tail.frames)
            await asyncio.sleep(min(len(pcm) / 2 / rate, 30.0))  # let the caller hear it
        except (ConnectionError, RuntimeError) as exc:
            self.log.info("call %s: goodbye not delivered: %s", self.call.call_id, exc)

    def _close_code(self) -> int:
        return 1001 if self.call.stop_reason is not None else 1000

    def _finish_log(self) -> None:
        """Complete the call's log when the session could not (nothing to do by default)."""

    async def _open_session(
        self, params: dict[str, str], resume_handle: str | None = None
    ) -> GuardedSession | None:
        """Start the guarded session (continuing the conversation of `resume_handle`, if given,
        without a second greeting); None (with `end_reason` set) if upstream refused it."""
        session = GuardedSession(
            self.ctx.settings,
            client=self.ctx.client,
            session_id=self.call.call_id,
            transport=self.transport,
            on_event=self.tel.sinks,
            headers=self.ctx.session_headers(params),
            resume_handle=resume_handle,
            greeting=resume_handle is None,
        )
        try:
            await session.start()
        except SessionFailed as exc:
            self.tel.clock = session.now
            self.end_reason = f"upstream: {exc.reason}"[:200]
            return None
        self.session = session
        # message in -> frame on the upstream socket, also for frames that had to be queued
        session.on_forwarded = partial(self.ctx.metrics.observe_forwarding, UP)
        session.deliver_now = partial(self._deliver_now, session)
        self.tel.clock = session.now
        return session

    async def _bridge(self) -> None:
        """Run both loops until one ends, the caller goes away, or the relay says stop."""
        t = self.transport
        caller = asyncio.create_task(self._caller_loop(), name=f"lg-{t}-caller")
        model = asyncio.create_task(self._model_loop(), name=f"lg-{t}-model")
        stopper = asyncio.create_task(self.call.stopping.wait(), name=f"lg-{t}-stop")
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
                self._socket_lost(exc)
                self.end_reason = "caller dropped"
            elif exc is not None and not isinstance(exc, SessionClosed):
                raise exc

    def _socket_lost(self, exc: ConnectionError) -> None:
        self.tel.caller_error(f"{self.transport} socket lost: {exc}", fatal=True)

    # ---------------------------------------------------------------- caller -> model

    async def _caller_loop(self) -> None:
        session = self.session
        assert session is not None
        perf = time.perf_counter
        async for msg in self.ws:
            received_at = perf()
            if msg.type == WSMsgType.ERROR:
                self.tel.caller_error(f"websocket error: {self.ws.exception()}", fatal=True)
                self.end_reason = "caller websocket error"
                return
            if msg.type not in _DATA:
                break
            for item in self._parse(msg):
                if await self._from_caller(session, item, received_at):
                    return
        self._caller_gone()

    def _parse(self, msg: Any) -> list[Any]:
        """The items in one text or binary message from the caller."""
        raise NotImplementedError

    async def _from_caller(self, session: GuardedSession, item: Any, received_at: float) -> bool:
        """Act on one caller item; True when it ends the call (with `end_reason` set)."""
        raise NotImplementedError

    def _caller_gone(self) -> None:
        """The caller's socket closed without a goodbye message."""
        raise NotImplementedError

    # ---------------------------------------------------------------- model -> caller

    async def _model_loop(self) -> None:
        session = self.session
        assert session is not None
        async for item in session:
            self._playing = True
            try:
                out = self._outbound(session, item)
                if out is not None:
                    await self._send(out.frames)
                    if out.written is not None:
                        out.written()
            finally:
                self._playing = False
        if self.end_reason == "ended":
            self.end_reason = session.failure.reason if session.failure else "session ended"

    def _deliver_now(self, session: GuardedSession, item: object) -> bool:
        """The session's synchronous sink: play `item` from the session's task when nothing is
        ahead of it and the socket takes it at once; False leaves it to the model loop."""
        if self._playing or not self._can_write_now():
            return False
        out = self._outbound(session, item)
        if out is not None:
            self._write_now(out.frames)
            if out.written is not None:
                out.written()
        return True

    def _outbound(self, session: GuardedSession, item: object) -> Outbound | None:
        """The caller's messages for one session item, protocol state advanced (None: none)."""
        raise NotImplementedError

    def _can_write_now(self) -> bool:
        raw = self.raw
        return (
            raw is not None
            and not self.ws.closed
            and not raw.is_closing()
            and raw.get_write_buffer_size() <= WRITE_NOW_LIMIT
        )

    def _write_now(self, frames: Sequence[str | bytes]) -> None:
        """All of `frames` in one write on the raw socket (`_can_write_now()` said it may)."""
        assert self.raw is not None
        self.raw.write(encode_frames(frames))

    async def _send(self, frames: Sequence[str | bytes]) -> None:
        """Write `frames` in order: at once when the socket is not backed up, else one by one
        waiting for it to drain (a caller that stops reading is ended after SEND_TIMEOUT_S)."""
        if self._can_write_now():
            self._write_now(frames)
            return
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):  # one timer for the batch
                for frame in frames:
                    if isinstance(frame, str):
                        await self.ws.send_str(frame)
                    else:
                        await self.ws.send_bytes(frame)
        except TimeoutError:
            raise ConnectionError("caller stopped reading") from None

    def _forwarded(self, audio: AudioOut, seconds: float) -> Callable[[], None] | None:
        """What to call once `audio` is on the caller's socket: the down forwarding time, from
        its upstream message's arrival (None for the guard's own filler and fallback audio)."""
        received_at = audio.received_at
        if received_at is None:
            return None
        observe = self.ctx.metrics.observe_forwarding
        return lambda: observe(DOWN, time.perf_counter() - received_at, seconds)

    def _at_rate(self, audio: AudioOut, rate: int) -> bytes:
        """The model's audio at `rate`, through one stateful resampler per source rate."""
        if audio.rate == rate:
            return audio.pcm
        r = self._down.get(audio.rate)
        if r is None:
            r = self._down[audio.rate] = Resampler(audio.rate, rate)
        return r.process(audio.pcm)
