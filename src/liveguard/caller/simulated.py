"""`liveguard call`: a simulated phone caller speaking a carrier's media-stream protocol.

Why: tests, demos and benchmarks need a caller that behaves like the carrier on the wire — its
opening messages first, 20 ms frames at real-time pace (silence between utterances, as a phone
line sends), markers echoed only when the audio before them has been "played" (playout is
simulated at real time), a clear dropping what is buffered — and that measures what a caller
experiences: the silence between the end of their speech and the first model audio, and how much
of the answer they actually heard. The carrier's spelling of all this (Twilio by default; Telnyx,
Plivo, Vonage, Exotel) is the `CallerWire` in wire.py; the caller itself works in μ-law 8 kHz.

Output: one JSON line per caller turn
  {"turn", "utterance", "end_of_speech_to_first_audio_s", "heard_s", "answered", ...}
and a final summary line
  {"summary": true, "answered", "unanswered", "max_silence_s", "frames_sent", ...}.

Importable: `await run_call(url, script)` returns a `CallResult` (the same lines, plus the μ-law
audio the caller heard).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from liveguard.audio import mulaw, wav
from liveguard.audio.clips import load_clip, resample_pcm16
from liveguard.caller.playout import RATE, Playout
from liveguard.caller.script import (
    BargeIn,
    CallScript,
    Dtmf,
    Hangup,
    Pause,
    Say,
    ScriptError,
    WaitAnswer,
    load_script,
)
from liveguard.caller.turns import Turn, TurnLog
from liveguard.caller.wire import CallerWire, Frame, make_wire
from liveguard.transports.signature import compute_signature

FRAME_BYTES = 160
FRAME_S = 0.02
SILENCE_FRAME = b"\xff" * FRAME_BYTES
MAX_RECORD_S = 1800.0  # bound on the audio a caller keeps (30 min of μ-law is 14 MB)
#: a frame whose mean |sample| is below this is inaudible: it does not answer the caller (the
#: guard's `inaudible_level`; gemini-live-api-examples#40 measured 18 for inaudible answers and
#: 2,061-10,747 for healthy ones)
AUDIBLE_LEVEL = 100.0
_RESYNC_S = 0.2  # if the sender falls this far behind real time, it resyncs instead of bursting


@dataclass
class CallResult:
    """Everything a call produced: the printed lines and what the caller heard."""

    turns: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    heard: bytes = b""  # μ-law 8 kHz, what was played (cleared audio removed)
    clears: int = 0
    marks_echoed: int = 0
    errors: list[str] = field(default_factory=list)


def clip_ulaw(name: str) -> bytes:
    """A shipped utterance (by name) or a WAV file (by path) as μ-law 8 kHz bytes."""
    path = Path(name)
    if name.endswith(".wav") or path.exists():
        try:
            audio = wav.read_wav(path)
        except wav.WavFormatError as exc:  # names the file and what is wrong
            raise ScriptError(str(exc)) from None
        except OSError as exc:
            raise ScriptError(f"{name}: cannot read WAV: {exc}") from None
        pcm = audio.pcm
        if audio.sample_rate != RATE:
            pcm = resample_pcm16(pcm, audio.sample_rate, RATE)
        return mulaw.encode(pcm)
    try:
        return mulaw.encode(load_clip(name, RATE).pcm)
    except KeyError as exc:
        raise ScriptError(str(exc.args[0])) from None


class SimulatedCaller:
    """One call over a connected WebSocket: sender, receiver and mark loops plus the script.

    The bookkeeping is delegated: `playout` (what was heard, markers' due times) and `turns` (each
    turn's figures) are plain objects this class feeds with the clock and the relay's messages.
    """

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        script: CallScript,
        *,
        on_line: Callable[[dict[str, Any]], None] | None = None,
        parameters: dict[str, str] | None = None,
        wire: CallerWire | None = None,
    ) -> None:
        self.ws = ws
        self.script = script
        self.on_line = on_line
        self.parameters = {**script.parameters, **(parameters or {})}
        self.wire = wire or CallerWire(self.parameters)
        self.loop = asyncio.get_running_loop()
        self.result = CallResult()
        self._acks: set[asyncio.Task[None]] = set()
        self._speech: deque[bytes] = deque()
        self._speech_done = asyncio.Event()
        self._speech_done.set()
        self._last_speech_frame_at = 0.0
        self.frames_sent = 0
        self.frames_received = 0  # media messages
        self.audio_received_s = 0.0
        self.late_resyncs = 0
        self.playout = Playout(MAX_RECORD_S)
        self.turns = TurnLog(self.playout)
        self._last_media_at: float | None = None
        self._last_audible_at: float | None = None  # the last frame the caller could hear
        self.inaudible_frames = 0
        self._marks_changed = asyncio.Event()
        self._media_event = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.closed_by_relay = False
        self._hung_up = False
        self.greeting_heard_s = 0.0

    # ------------------------------------------------------------------ wire

    async def _send(self, frame: Frame) -> None:
        if self.closed.is_set():
            return
        try:
            if isinstance(frame, bytes):
                await self.ws.send_bytes(frame)
            else:
                await self.ws.send_str(frame)
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
            self.result.errors.append(f"send failed: {exc}")
            self.closed.set()

    async def _handshake(self) -> None:
        for frame in self.wire.handshake():
            await self._send(frame)

    async def _sender(self) -> None:
        """One 20 ms frame per tick, at real-time pace: speech if queued, else line silence."""
        t0 = self.loop.time()
        n = 0
        while not self.closed.is_set():
            frame = self._speech.popleft() if self._speech else SILENCE_FRAME
            n += 1
            message = self.wire.media(frame, n)
            if message is not None:  # None: the carrier sends bigger chunks (Exotel: 100 ms)
                await self._send(message)
            self.frames_sent += 1
            if frame is not SILENCE_FRAME and not self._speech:
                self._last_speech_frame_at = self.loop.time()
                self._speech_done.set()
            due = t0 + n * FRAME_S
            delay = due - self.loop.time()
            if delay < -_RESYNC_S:
                self.late_resyncs += 1
                t0, n = self.loop.time(), 0
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))

    async def _receiver(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    if msg.type == aiohttp.WSMsgType.ERROR:
                        self.result.errors.append(f"websocket error: {self.ws.exception()}")
                    continue
                for kind, value in self.wire.parse(msg.data):
                    self._on_event(kind, value)
        finally:
            if self.close_code is None:
                self.close_code = self.ws.close_code
            if not self._hung_up:
                self.closed_by_relay = True
            self.closed.set()
            self._media_event.set()
            self._marks_changed.set()

    def _on_event(self, kind: str, value: Any) -> None:
        """One relay message as the wire read it: audio (μ-law 8 kHz), a marker, a clear."""
        now = self.loop.time()
        if kind == "audio":
            self.frames_received += 1
            start = max(now, self.playout.play_end)  # when this frame starts playing
            secs = self.playout.add_audio(now, value)
            self.audio_received_s += secs
            self._last_media_at = now
            if float(np.abs(mulaw.decode_array(value), dtype=np.float32).mean()) < AUDIBLE_LEVEL:
                self.inaudible_frames += 1  # played, but nobody hears it: no answer
            else:
                self._last_audible_at = now
                self.turns.on_audio(now, start, secs)
            self._media_event.set()
        elif kind == "mark":
            if isinstance(value, str):
                self.playout.add_mark(now, value)
                self._marks_changed.set()
        elif kind == "clear":
            # Twilio (and Telnyx) answer a clear by echoing every pending mark at once; others
            # drop them and acknowledge the clear
            self.playout.clear(now, echo_marks=self.wire.clear_echoes_marks)
            self.turns.cleared(now)
            self.result.clears = self.playout.clears
            self._marks_changed.set()
            ack = self.wire.cleared()
            if ack is not None:
                task = self.loop.create_task(self._send(ack))
                self._acks.add(task)
                task.add_done_callback(self._acks.discard)
        else:
            self.result.errors.append(str(value))

    async def _mark_echoer(self) -> None:
        while not self.closed.is_set():
            marks = self.playout.marks
            if not marks:
                self._marks_changed.clear()
                await self._marks_changed.wait()
                continue
            due, name = marks[0]
            delay = due - self.loop.time()
            if delay > 0:
                self._marks_changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._marks_changed.wait(), delay)
                continue
            marks.popleft()
            await self._send(self.wire.echo(name))
            self.result.marks_echoed += 1

    # ------------------------------------------------------------------ playout accounting

    def heard_s(self, now: float | None = None) -> float:
        """Seconds of model audio the caller has heard so far (played, not cleared)."""
        return self.playout.heard_s(self.loop.time() if now is None else now)

    def playing(self, now: float | None = None) -> bool:
        return self.playout.playing(self.loop.time() if now is None else now)

    # ------------------------------------------------------------------ turns

    def _emit(self, line: dict[str, Any]) -> None:
        if self.on_line is not None:
            self.on_line(line)

    def _begin_turn(self, utterance: str, kind: str) -> Turn:
        self._finish_turn()
        return self.turns.begin(self.loop.time(), utterance, kind)

    def _end_of_speech(self, turn: Turn, at: float) -> None:
        self.turns.end_of_speech(turn, at)

    def _finish_turn(self) -> None:
        line = self.turns.finish(self.loop.time())
        if line is not None:
            self.result.turns.append(line)
            self._emit(line)

    async def _speak(self, ulaw: bytes) -> float:
        """Queue an utterance as 20 ms frames; returns when its last frame was sent."""
        frames = [ulaw[i : i + FRAME_BYTES] for i in range(0, len(ulaw), FRAME_BYTES)]
        if frames and len(frames[-1]) < FRAME_BYTES:
            frames[-1] = frames[-1] + b"\xff" * (FRAME_BYTES - len(frames[-1]))
        self._speech_done.clear()
        self._speech.extend(frames)
        waiter = asyncio.create_task(self._speech_done.wait())
        closer = asyncio.create_task(self.closed.wait())
        try:
            await asyncio.wait({waiter, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            closer.cancel()
        return self._last_speech_frame_at or self.loop.time()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), seconds)

    async def _wait_media(self, seconds: float) -> None:
        self._media_event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._media_event.wait(), max(0.0, seconds))

    def _audio_since(self, t: float) -> bool:
        """Audible model audio came at or after `t` (inaudible audio answers nothing)."""
        return self._last_audible_at is not None and self._last_audible_at >= t

    async def _wait_answer(self, step: WaitAnswer) -> None:
        """Until model audio came after the last speech and then stopped for `quiet` seconds."""
        start = self.loop.time()
        since = self.turns.answer_start if self.turns.current is not None else 0.0
        deadline = start + step.timeout
        while not self.closed.is_set() and not self._audio_since(since):
            left = deadline - self.loop.time()
            if left <= 0:
                return
            await self._wait_media(left)
        hard_stop = self.loop.time() + max(step.timeout, 60.0)
        while not self.closed.is_set():
            now = self.loop.time()
            quiet_from = max(self.playout.play_end, self._last_media_at or now)
            wait = quiet_from + step.quiet - now
            if wait <= 0 or now >= hard_stop:
                return
            await self._wait_media(min(wait, hard_stop - now))

    async def _barge_in(self, step: BargeIn, ulaw: bytes) -> None:
        """Wait until the model is talking, `after` seconds more, then speak over it."""
        deadline = self.loop.time() + step.timeout
        since = self.turns.answer_start
        talking = False
        while not self.closed.is_set():
            if self._audio_since(since) and self.playing():
                talking = True
                break
            left = deadline - self.loop.time()
            if left <= 0:
                break
            await self._wait_media(min(left, 0.05))
        if talking:
            await self._sleep(step.after)
        turn = self._begin_turn(step.clip, "barge_in")
        turn.barged = talking and self.playing()
        self._end_of_speech(turn, await self._speak(ulaw))

    async def run(self) -> CallResult:
        clips = {}
        for step in self.script.steps:
            if isinstance(step, Say | BargeIn):
                clips[step.clip] = clip_ulaw(step.clip)
        await self._handshake()
        tasks = [
            asyncio.create_task(self._sender()),
            asyncio.create_task(self._receiver()),
            asyncio.create_task(self._mark_echoer()),
        ]
        t_start = self.loop.time()
        try:
            await self._play(clips)
            self._finish_turn()
            await self._hang_up()
        finally:
            self._finish_turn()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self._summarise(self.loop.time() - t_start)

    async def _play(self, clips: dict[str, bytes]) -> None:
        """The script's steps in order, until a hangup step or the relay closes the call."""
        for step in self.script.steps:
            if self.closed.is_set():
                return
            if isinstance(step, Say):
                turn = self._begin_turn(step.clip, "say")
                self._end_of_speech(turn, await self._speak(clips[step.clip]))
            elif isinstance(step, BargeIn):
                await self._barge_in(step, clips[step.clip])
            elif isinstance(step, Dtmf):
                turn = self._begin_turn(f"dtmf:{step.digit}", "dtmf")
                await self._send(self.wire.dtmf(step.digit))
                self._end_of_speech(turn, self.loop.time())
            elif isinstance(step, Pause):
                await self._sleep(step.seconds)
            elif isinstance(step, WaitAnswer):
                before = self.heard_s()
                await self._wait_answer(step)
                if self.turns.current is None and self.turns.count == 0:
                    self.greeting_heard_s += self.heard_s() - before
            elif isinstance(step, Hangup):
                return

    async def _hang_up(self) -> None:
        """End the call as the carrier does: its stop message (if any), then close the socket."""
        self._hung_up = True
        if self.closed.is_set():
            return
        stop = self.wire.stop()
        if stop is not None:
            await self._send(stop)
        with contextlib.suppress(Exception):  # the stream ends after stop (or is closed)
            await asyncio.wait_for(self.ws.close(), 5.0)
        self.close_code = self.ws.close_code

    def _summarise(self, duration: float) -> CallResult:
        turns = self.result.turns
        answered = sum(1 for t in turns if t["answered"])
        self.result.heard = bytes(self.playout.heard)
        self.result.summary = {
            "summary": True,
            "script": self.script.name,
            "turns": len(turns),
            "answered": answered,
            "unanswered": len(turns) - answered,
            "max_silence_s": round(max((t["silence_s"] for t in turns), default=0.0), 3),
            "greeting_heard_s": round(self.greeting_heard_s, 3),
            "heard_s": round(self.heard_s(), 3),
            "frames_sent": self.frames_sent,
            "frames_received": self.frames_received,
            "inaudible_frames": self.inaudible_frames,
            "audio_received_s": round(self.audio_received_s, 3),
            "marks_echoed": self.result.marks_echoed,
            "clears": self.result.clears,
            "sender_resyncs": self.late_resyncs,
            "closed_by_relay": self.closed_by_relay,
            "close_code": self.close_code,
            "errors": self.result.errors[:20],
            "duration_s": round(duration, 3),
        }
        self._emit(self.result.summary)
        return self.result


async def run_call(
    url: str,
    script: CallScript | str | Path,
    *,
    on_line: Callable[[dict[str, Any]], None] | None = None,
    parameters: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    max_duration_s: float = 600.0,
    session: aiohttp.ClientSession | None = None,
    twilio_auth_token: str | None = None,
    carrier: str = "twilio",
    rate: int | None = None,
    codec: str = "",
) -> CallResult:
    """Place one simulated call to a carrier media-stream endpoint and run `script` on it.

    `script` is a `CallScript`, a shipped script name or a YAML path. `on_line` receives each turn
    line and the summary as dicts. `carrier` picks the wire (twilio, telnyx, plivo, vonage,
    exotel), `rate` and `codec` its audio where the carrier offers a choice. With
    `twilio_auth_token` the upgrade carries an X-Twilio-Signature, as Twilio's does. Bounded by
    `max_duration_s`; raises ScriptError for a bad script, ValueError for an unknown carrier or
    codec, and aiohttp.ClientError when the endpoint cannot be reached.
    """
    if not isinstance(script, CallScript):
        script = load_script(script)
    merged = {**script.parameters, **(parameters or {})}
    wire = make_wire(carrier, merged, rate=rate, codec=codec)
    url = wire.connect_url(url)
    headers = dict(headers or {})
    if twilio_auth_token:  # sign the upgrade like Twilio does (the URL, no parameters)
        headers["X-Twilio-Signature"] = compute_signature(twilio_auth_token, url, [])
    own = session is None
    http = session or aiohttp.ClientSession()
    try:
        async with http.ws_connect(
            url, headers=headers, autoping=True, max_msg_size=1 << 20, compress=0
        ) as ws:
            caller = SimulatedCaller(ws, script, on_line=on_line, parameters=parameters, wire=wire)
            try:
                return await asyncio.wait_for(caller.run(), max_duration_s)
            except TimeoutError:
                caller.result.errors.append(f"call exceeded {max_duration_s} s")
                caller._finish_turn()
                return caller._summarise(max_duration_s)
    finally:
        if own:
            await http.close()
