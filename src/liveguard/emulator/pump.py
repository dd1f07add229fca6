"""Drives one `EmulatedSession` from WebSocket frames and one timer, with no task per frame.

Why: a session gets 50 audio frames a second. Reading them with `await conn.recv()` under an
`asyncio.timeout_at(deadline)` costs a task wake-up, a timer handle and a few coroutine frames per
frame, which was most of the emulator's CPU. Here frames are handed over synchronously from the
connection's `process_event` (inside `data_received`), parsed, fed to the model, and the model's
outputs are written straight to the protocol and the transport. The model's deadlines are served
by one `loop.call_at` handle per connection, re-armed only when `next_deadline()` changes.

Behaviour is the recv loop's, step for step: overdue deadlines are polled before a new frame,
outputs go out in order, a `CloseConnection`, a `WireError` or a second `setup` ends the pump and
the server's task closes the connection. Backpressure: while the transport's write buffer is
above websockets' `write_limit`, the pump holds its timer (the model's replies wait), so a slow
reader only ever slows its own session (the buffer is bounded by the limit plus one batch of
outputs). It keeps reading the client, as the service does: pausing reads would leave caller audio
(and the client's close frame) unread in the socket, and a client that closes while it is behind
would lose those frames.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from websockets.asyncio.messages import MAX_FRAGMENTS
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State

from liveguard.emulator.wire import (
    INVALID_ARGUMENT,
    ServerFrameError,
    WireError,
    encode_server_message,
    parse_client_frame,
    parse_sdk_audio,
)
from liveguard.fastpath.ws_writer import raw_frames_ok, write_binary

__all__ = ["INTERNAL", "Pump", "dispatch"]

log = logging.getLogger("liveguard.emulator")

INTERNAL = "Internal error encountered."

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT
_OPEN = State.OPEN


def dispatch(model: Any, raw: str | bytes, now: float) -> list:
    """One client frame after setup to `model`: its outputs, or a `CloseConnection` for a bad
    frame or a second `setup` (allowed once, as the first frame). The pump and the reference
    recv loop (`liveguard.fastpath.ws_pump` off) both dispatch through here."""
    try:
        msg = parse_client_frame(raw)
    except WireError as exc:
        return [_close(exc.code, exc.reason)]
    if msg.kind == "setup":
        return [_close(1007, INVALID_ARGUMENT)]
    return model.handle_client(msg, now)


def _close(code: int, reason: str) -> Any:
    from liveguard.emulator.model import CloseConnection  # the model loads after the server

    return CloseConnection(code, reason)


class Pump:
    """The frame → model → frames path of one connection after setup.

    `done` resolves to `("close", code, reason)` (the server closes the connection),
    `("error", exc)` (a bug: the server logs it and closes 1011) or `("lost", None)` (the
    connection went away; the server reads its close frames).
    """

    def __init__(self, conn: Any, stats: Any, model: Any) -> None:
        self.conn = conn
        self.stats = stats
        self.model = model
        self.loop: asyncio.AbstractEventLoop = conn.loop
        self.done: asyncio.Future[tuple[str, Any, Any]] = self.loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._fragments: list[Frame] = []
        self._poll_held = False
        self._failed = False  # this pump failed the connection: later frames are not read
        self._raw = raw_frames_ok(conn)  # server frames skip websockets' frame code (fastpath)

    # ------------------------------------------------------------------ lifecycle

    def start(self, backlog: list[Frame]) -> None:
        """Take over from `recv()`: feed frames already queued, then arm the timer."""
        for frame in backlog:
            if self.done.done():
                return
            self.frame(frame)
        self._arm()

    def finish(self, kind: str, a: Any = None, b: Any = None) -> None:
        """End the pump once; stop the timer and stop reading."""
        if self.done.done():
            return
        self._cancel_timer()
        self.done.set_result((kind, a, b))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    # ------------------------------------------------------------------ frames in

    def frame(self, frame: Frame) -> None:
        """One data frame parsed by websockets (called from `process_event`)."""
        if self.done.done() or self._failed:
            return
        if frame.opcode is _CONT or not frame.fin or self._fragments:
            try:
                assembled = self._assemble(frame)
            except Exception as exc:  # a bug: this connection ends with 1011, the others go on
                self.finish("error", exc)
                return
            if assembled is not None:
                self.message(*assembled)
            return
        data = frame.data
        self.message(frame.opcode is _TEXT, data if type(data) is bytes else bytes(data))

    def message(self, text: bool, payload: bytes) -> None:
        """One whole data message: from `frame`, or straight from the connection's fast reader.

        The SDK's audio frame is recognised on its bytes (`parse_sdk_audio`: ASCII, so the UTF-8
        check cannot fail); anything else is decoded (text) and parsed in full, as before.
        """
        if self.done.done() or self._failed:
            return
        try:
            audio = parse_sdk_audio(payload)
            if audio is not None:
                self._message(payload, audio=audio)
                return
            if text:
                raw = self._text(payload)
                if raw is None:
                    return
                self._message(raw)
            else:
                self._message(payload)
        except Exception as exc:  # a bug: this connection ends with 1011, the others go on
            self.finish("error", exc)

    def _assemble(self, frame: Frame) -> tuple[bool, bytes] | None:
        """Fragmented messages, as websockets' Assembler does (its size cap already applied)."""
        if len(self._fragments) >= MAX_FRAGMENTS:
            self._fail(CloseCode.MESSAGE_TOO_BIG, "too many fragments")
            return None
        self._fragments.append(frame)
        if not frame.fin:
            return None
        frames, self._fragments = self._fragments, []
        return frames[0].opcode is _TEXT, b"".join(f.data for f in frames)

    def _text(self, data: bytes | bytearray) -> str | None:
        try:
            return bytes(data).decode() if type(data) is not bytes else data.decode()
        except UnicodeDecodeError as exc:  # what recv() does: fail the connection with 1007
            self._fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
            return None

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection as websockets does. Frames websockets already parsed from the same
        read are ignored, as every later byte is: what the model sees does not depend on how the
        client's bytes were cut into reads."""
        self._failed = True
        conn = self.conn
        if conn.protocol.state is State.OPEN:
            conn.protocol.fail(code, reason)
            self._write()
        self._cancel_timer()  # the connection closes; connection_lost ends the pump

    def _message(self, raw: str | bytes, audio: tuple[bytes, str] | None = None) -> None:
        stats = self.stats
        stats.frames_received += 1
        stats.bytes_received += len(raw)
        model = self.model
        now = self.loop.time()
        at = self._timer_at
        if at is not None and at <= now:  # the recv loop served overdue deadlines first
            if self._emit(model.poll(max(now, at))):
                return
        if audio is not None:  # the SDK's audio frame, already parsed (`parse_sdk_audio`)
            outputs = model.handle_audio(audio[0], audio[1], now)
        else:
            outputs = dispatch(model, raw, now)
        if outputs and self._emit(outputs):
            return
        self._arm()

    # ------------------------------------------------------------------ time

    def _arm(self) -> None:
        """One timer at the model's next deadline, re-armed only when it moved (usually it has
        not: no timer churn per frame)."""
        deadline = self.model.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = None if deadline is None else self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        at = self._timer_at
        self._timer = None
        self._timer_at = None
        if self.done.done() or at is None:
            return
        if self.conn.paused:  # the client reads slowly: hold its model until the buffer drains
            self._poll_held = True
            return
        try:
            # call_at may run a handle up to the clock resolution early: never poll before `at`
            if self._emit(self.model.poll(max(self.loop.time(), at))):
                return
            self._arm()
        except Exception as exc:
            self.finish("error", exc)

    # ------------------------------------------------------------------ frames out

    def _emit(self, outputs: list) -> bool:
        """Write outputs in order; True when the pump ended (close, bad frame, lost socket).

        Server frames are unmasked, uncompressed BINARY frames, written in one call per batch
        (`liveguard.fastpath.ws_writer`: header + payload built there, without a Frame object,
        a BytesIO and a TLS write per frame). Only while the protocol is OPEN, as websockets
        requires.
        """
        if not outputs:
            return False
        protocol = self.conn.protocol
        stats = self.stats
        frames: list[bytes] = []
        try:
            for out in outputs:
                payload = getattr(out, "payload", None)
                if payload is None:  # CloseConnection
                    self.finish("close", out.code, out.reason)
                    return True
                try:
                    data = encode_server_message(payload)
                except ServerFrameError as exc:
                    log.error("session %s: model produced a bad frame: %s", stats.session_id, exc)
                    stats.error = f"ServerFrameError: {exc}"
                    self.finish("close", 1011, INTERNAL)
                    return True
                if protocol.state is not _OPEN:  # closing: the socket ends the pump
                    break
                frames.append(data)
                stats.frames_sent += 1
                if "setupComplete" in payload:
                    stats.setup_complete = True
        finally:
            if frames:
                self._write(frames)
        return self.done.done()

    def _write(self, frames: list[bytes] | None = None) -> None:
        """Write websockets' pending output, then `frames` (BINARY payloads), in that order."""
        conn = self.conn
        try:
            write_binary(conn, frames or [], self._raw)
        except Exception as exc:  # the socket failed: abort it; connection_lost ends the pump
            conn.set_connection_exc(exc)
            conn.transport.abort()

    # ------------------------------------------------------------------ flow control

    def resume_writing(self) -> None:
        """The client caught up: serve any deadline held meanwhile."""
        if self.done.done():
            return
        if self._poll_held:
            self._poll_held = False
            self.loop.call_soon(self._resume_timer)

    def _resume_timer(self) -> None:
        if self.done.done() or self.conn.paused:
            return
        try:
            if self._emit(self.model.poll(self.loop.time())):
                return
            self._arm()
        except Exception as exc:
            self.finish("error", exc)
