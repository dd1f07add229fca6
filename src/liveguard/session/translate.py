"""Turn the SDK's `LiveServerMessage` objects into liveguard events, with session-wide counters.

Why a plain object: the counters it stamps on events (`turn`, `gemini_audio_chunks`, per-turn
audio, the last caller transcript and its age) must survive any number of reconnects and be
testable without a socket; they live in one `TurnTracker` (see `MessageTranslator`). The
incident's field names are kept so operators recognise them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from google.genai import types

from liveguard import events as ev
from liveguard.fastpath.sdk_parse import ModelAudioChunk
from liveguard.guard.turns import TurnTracker

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)s\s*$")
_RATE = re.compile(r"rate=(\d+)")


def parse_duration(text: str | None) -> float:
    """A proto Duration string ("50s", "0.440s") in seconds; 0.0 when absent or malformed."""
    if not text:
        return 0.0
    m = _DURATION.match(str(text))
    return float(m.group(1)) if m else 0.0


def audio_level(pcm: bytes) -> float:
    """Mean absolute sample value of PCM16 little-endian audio (0..32768), rounded to 0.1.

    What decides whether a caller could hear a chunk; about 4 µs per 20 ms at 24 kHz (numpy on the
    bytes, no copy until the float conversion). An odd trailing byte is ignored.
    """
    n = len(pcm) // 2
    if n == 0:
        return 0.0
    x = np.frombuffer(pcm, dtype="<i2", count=n).astype(np.float32)
    return round(float(np.abs(x, out=x).sum()) / n, 1)


def audio_rate(mime_type: str | None, default: int = 24000) -> int:
    m = _RATE.search(mime_type or "")
    return int(m.group(1)) if m else default


@dataclass(slots=True)
class AudioPart:
    """Model audio carried by one message: the PCM and the event describing it."""

    pcm: bytes
    rate: int
    event: ev.ModelAudio


@dataclass(slots=True)
class Translation:
    """What one server message meant: events in order, model audio, raw tool calls."""

    events: list[ev.Event] = field(default_factory=list)
    audio: list[AudioPart] = field(default_factory=list)
    function_calls: list[types.FunctionCall] = field(default_factory=list)


class MessageTranslator:
    """Server messages -> events, stamped with the session's counters; survives reconnects.

    The counters (`turn`, `gemini_audio_chunks`, per-turn audio, tokens, `last_user_tx`) have one
    owner, a `TurnTracker` fed every event. In a session that is the guard's tracker (`caller`):
    the session feeds every event of one message to the guard before it translates the next, so
    the tracker is current when a message starts. Without one (`liveguard convert`, tests) the
    translator keeps a tracker of its own and feeds it. Within one message a cursor counts ahead
    of the tracker, because one message can carry audio and its turnComplete.
    """

    def __init__(self, caller: TurnTracker | None = None) -> None:
        self.tracker = caller if caller is not None else TurnTracker()
        self._feeds = caller is None

    # the incident's counters, read from their one owner
    @property
    def turn(self) -> int:
        return self.tracker.turn

    @property
    def gemini_audio_chunks(self) -> int:
        return self.tracker.gemini_audio_chunks

    @property
    def turn_audio_chunks(self) -> int:
        return self.tracker.turn_audio_chunks

    @property
    def input_tokens(self) -> int:
        return self.tracker.input_tokens

    @property
    def output_tokens(self) -> int:
        return self.tracker.output_tokens

    @property
    def last_user_tx(self) -> str:
        return self.tracker.last_user_tx

    def last_user_tx_age_ms(self, now: float) -> int:
        return self.tracker.last_user_tx_age_ms(now)

    def translate(self, msg: types.LiveServerMessage | ModelAudioChunk, t: float) -> Translation:
        out = Translation()
        tr = self.tracker
        cur = _Cursor(tr.turn, tr.gemini_audio_chunks, tr.turn_audio_chunks)
        if isinstance(msg, ModelAudioChunk):  # the lean wire's audio-only message
            for pcm, mime in msg.parts:
                self._model_audio(pcm, mime, t, cur, out)
        else:
            self._message(msg, t, cur, out)
        if self._feeds:
            for event in out.events:
                tr.feed(event)
        return out

    def _message(
        self, msg: types.LiveServerMessage, t: float, cur: _Cursor, out: Translation
    ) -> None:
        add = out.events.append
        if msg.usage_metadata is not None:
            u = msg.usage_metadata
            inp, outp = u.prompt_token_count or 0, u.response_token_count or 0
            add(
                ev.Usage(
                    t=t, input_tokens=inp, output_tokens=outp, total_tokens=u.total_token_count or 0
                )
            )
        if msg.voice_activity is not None and msg.voice_activity.voice_activity_type is not None:
            kind = msg.voice_activity.voice_activity_type
            add(ev.VoiceActivity(t=t, kind=getattr(kind, "value", str(kind))))
        sc = msg.server_content
        if sc is not None:
            self._server_content(sc, t, cur, out)
        if msg.tool_call is not None:
            calls = list(msg.tool_call.function_calls or [])
            out.function_calls.extend(calls)
            add(
                ev.ToolCall(
                    t=t,
                    ids=tuple(c.id or "" for c in calls),
                    names=tuple(c.name or "" for c in calls),
                )
            )
        if msg.tool_call_cancellation is not None:
            ids = tuple(msg.tool_call_cancellation.ids or ())
            add(ev.ToolCallCancelled(t=t, ids=ids))
        if msg.session_resumption_update is not None:
            upd = msg.session_resumption_update
            resumable = bool(upd.resumable)
            handle = upd.new_handle if resumable and upd.new_handle else None
            add(ev.ResumptionUpdate(t=t, handle=handle, resumable=resumable, turn=cur.turn))
        if msg.go_away is not None:
            add(ev.GoAway(t=t, time_left_s=parse_duration(msg.go_away.time_left)))

    def _server_content(
        self, sc: types.LiveServerContent, t: float, cur: _Cursor, out: Translation
    ) -> None:
        add = out.events.append
        if sc.input_transcription is not None and sc.input_transcription.text:
            add(ev.InputTranscript(t=t, text=sc.input_transcription.text))
        if sc.model_turn is not None:
            for part in sc.model_turn.parts or ():
                blob = part.inline_data
                if blob is not None and blob.data and (blob.mime_type or "").startswith("audio/"):
                    self._model_audio(blob.data, blob.mime_type or "", t, cur, out)
        if sc.output_transcription is not None and sc.output_transcription.text:
            add(ev.OutputTranscript(t=t, text=sc.output_transcription.text))
        if sc.interrupted:
            add(
                ev.Interrupted(
                    t=t,
                    turn=cur.turn,
                    last_user_tx=self.tracker.last_user_tx,
                    last_user_tx_age_ms=self.tracker.last_user_tx_age_ms(t),
                    skip_audio=False,  # liveguard never discards model audio on its own
                )
            )
        if sc.generation_complete:
            add(ev.GenerationComplete(t=t, turn=cur.turn))
        if sc.turn_complete:
            reason = sc.turn_complete_reason
            status = sc.interaction_status
            add(
                ev.TurnComplete(
                    t=t,
                    turn=cur.turn,
                    gemini_audio_chunks=cur.chunks,
                    turn_audio_chunks=cur.turn_chunks,
                    reason=_enum_value(reason),
                    waiting_for_input=bool(sc.waiting_for_input),
                    interaction_status=_enum_value(status),
                )
            )
            cur.turn += 1
            cur.turn_chunks = 0

    def _model_audio(self, pcm: bytes, mime: str, t: float, cur: _Cursor, out: Translation) -> None:
        cur.chunks += 1
        cur.turn_chunks += 1
        event = ev.ModelAudio(
            t=t,
            bytes=len(pcm),
            gemini_audio_chunks=cur.chunks,
            turn=cur.turn,
            level=audio_level(pcm),
        )
        out.events.append(event)
        out.audio.append(AudioPart(pcm, audio_rate(mime), event))


@dataclass(slots=True)
class _Cursor:
    """The counters as they stand within one message (the tracker catches up when fed)."""

    turn: int
    chunks: int
    turn_chunks: int


def _enum_value(value: object) -> str | None:
    """An SDK enum (or a plain string from a newer wire) as its string value; None stays None."""
    if value is None:
        return None
    return str(getattr(value, "value", value))
