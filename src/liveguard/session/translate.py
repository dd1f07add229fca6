"""Turn the SDK's `LiveServerMessage` objects into liveguard events, with session-wide counters.

Why a plain object: the counters (`turn`, `gemini_audio_chunks`, per-turn audio, the last caller
transcript and its age) must survive any number of reconnects and be testable without a socket.
The incident's field names are kept so operators recognise them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from google.genai import types

from liveguard import events as ev
from liveguard.fastpath.sdk_parse import ModelAudioChunk

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)s\s*$")
_RATE = re.compile(r"rate=(\d+)")


def parse_duration(text: str | None) -> float:
    """A proto Duration string ("50s", "0.440s") in seconds; 0.0 when absent or malformed."""
    if not text:
        return 0.0
    m = _DURATION.match(str(text))
    return float(m.group(1)) if m else 0.0


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


class CallerTranscript(Protocol):
    """Where `last_user_tx` comes from (the guard's `TurnTracker` has these members)."""

    last_user_tx: str

    def last_user_tx_age_ms(self, now: float) -> int: ...


class MessageTranslator:
    """Session-wide counters fed by server messages and caller transcripts; survives reconnects.

    `caller`, when given (the guard's TurnTracker), supplies `last_user_tx` and its age for
    `Interrupted`, so the session and the guard report the same values; else this object keeps
    its own from input transcription.
    """

    def __init__(self, caller: CallerTranscript | None = None) -> None:
        self.caller = caller
        self.turn = 1  # the model turn in progress; the greeting is turn 1 as in the incident
        self.gemini_audio_chunks = 0
        self.turn_audio_chunks = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.last_user_tx = ""
        self.last_user_tx_t: float | None = None

    def last_user_tx_age_ms(self, now: float) -> int:
        if self.last_user_tx_t is None:
            return -1
        return max(0, round((now - self.last_user_tx_t) * 1000))

    def translate(self, msg: types.LiveServerMessage | ModelAudioChunk, t: float) -> Translation:
        out = Translation()
        if isinstance(msg, ModelAudioChunk):  # the lean wire's audio-only message
            for pcm, mime in msg.parts:
                self._model_audio(pcm, mime, t, out)
            return out
        add = out.events.append
        if msg.usage_metadata is not None:
            u = msg.usage_metadata
            inp, outp = u.prompt_token_count or 0, u.response_token_count or 0
            self.input_tokens += inp
            self.output_tokens += outp
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
            self._server_content(sc, t, out)
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
            add(ev.ResumptionUpdate(t=t, handle=handle, resumable=resumable, turn=self.turn))
        if msg.go_away is not None:
            add(ev.GoAway(t=t, time_left_s=parse_duration(msg.go_away.time_left)))
        return out

    def _server_content(self, sc: types.LiveServerContent, t: float, out: Translation) -> None:
        add = out.events.append
        if sc.input_transcription is not None and sc.input_transcription.text:
            text = sc.input_transcription.text
            self.last_user_tx = (self.last_user_tx + text) if self._tx_open(t) else text.lstrip()
            self.last_user_tx_t = t
            add(ev.InputTranscript(t=t, text=text))
        if sc.model_turn is not None:
            for part in sc.model_turn.parts or ():
                blob = part.inline_data
                if blob is not None and blob.data and (blob.mime_type or "").startswith("audio/"):
                    self._model_audio(blob.data, blob.mime_type or "", t, out)
        if sc.output_transcription is not None and sc.output_transcription.text:
            add(ev.OutputTranscript(t=t, text=sc.output_transcription.text))
        if sc.interrupted:
            src = self.caller if self.caller is not None else self
            add(
                ev.Interrupted(
                    t=t,
                    turn=self.turn,
                    last_user_tx=src.last_user_tx,
                    last_user_tx_age_ms=src.last_user_tx_age_ms(t),
                    skip_audio=False,  # liveguard never discards model audio on its own
                )
            )
        if sc.generation_complete:
            add(ev.GenerationComplete(t=t, turn=self.turn))
        if sc.turn_complete:
            reason = sc.turn_complete_reason
            add(
                ev.TurnComplete(
                    t=t,
                    turn=self.turn,
                    gemini_audio_chunks=self.gemini_audio_chunks,
                    turn_audio_chunks=self.turn_audio_chunks,
                    reason=getattr(reason, "value", reason) if reason is not None else None,
                    waiting_for_input=bool(sc.waiting_for_input),
                )
            )
            self.turn += 1
            self.turn_audio_chunks = 0

    def _model_audio(self, pcm: bytes, mime: str, t: float, out: Translation) -> None:
        self.gemini_audio_chunks += 1
        self.turn_audio_chunks += 1
        event = ev.ModelAudio(
            t=t, bytes=len(pcm), gemini_audio_chunks=self.gemini_audio_chunks, turn=self.turn
        )
        out.events.append(event)
        out.audio.append(AudioPart(pcm, audio_rate(mime), event))

    def _tx_open(self, t: float) -> bool:
        """Fragments within 2 s of each other belong to the same caller utterance."""
        return self.last_user_tx_t is not None and t - self.last_user_tx_t < 2.0
