"""Turn tracking: who spoke last, what is waiting for an answer, and the counters of the incident.

A plain object fed every event of a session (no clock of its own: times come from the events).
It is the one owner of the session's counters (the session's `MessageTranslator` stamps events
from it). It knows the turn number, the model audio counters (`gemini_audio_chunks`, per turn),
token counts, the last input transcript and its age, the caller utterance that awaits an answer,
and the conversation as (role, text) turns for re-seeding a fresh session. It emits
`TurnAnswered` on the first audible model audio after a caller utterance (chunks below
`inaudible_level` are counted, but a caller cannot hear them, so they answer nothing). The guard
builds its rules on it; the session reads it to fill the incident's fields (`last_user_tx`,
`last_user_tx_age_ms`) on `Interrupted`.

When is a caller utterance awaiting an answer? Local VAD is authoritative when it runs: the
utterance ends at `CallerSpeechEnded` (speech shorter than `min_utterance_s` only counts once a
transcript confirms it). Without local VAD (another relay's log), input transcription opens it,
and its last fragment is the end. Transcript fragments that lag behind an answered utterance (they
arrive while the model is already answering) never open a new one: transcripts are not a sign that
the caller is waiting, which is the mistake that lets a wedged session reset idle timers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from liveguard.events import (
    CallerSpeechEnded,
    CallerSpeechStarted,
    CallerText,
    Event,
    GenerationComplete,
    InputTranscript,
    Interrupted,
    ModelAudio,
    OutputTranscript,
    SessionEnded,
    ToolCall,
    ToolCallCancelled,
    ToolResponse,
    TurnAnswered,
    TurnComplete,
    UpstreamConnected,
    Usage,
)

ANY_TOOL = "*"  # stands for a tool call whose ids were not given
USER_TX_GAP_S = 2.0  # input-transcript fragments closer than this are one utterance
_TAIL_CHARS = 200  # output transcript kept per turn (the end of a sentence is what matters)


@dataclass(slots=True)
class Utterance:
    """A caller utterance waiting for model audio.

    `end_t` is the caller's end of speech (None while the caller is speaking again); `anchor_t` is
    where the answer deadline runs from (the end, or the moment the last tool call was answered).
    `tools` holds the ids of tool calls the model made for it: they pause the deadline.
    """

    start_t: float
    end_t: float | None
    anchor_t: float | None
    text: str = ""
    source: str = "vad"  # "vad" | "transcript" | "text"
    judged: bool = False  # the guard already gave a verdict on it
    tools: set[str] = field(default_factory=set)
    had_tools: bool = False  # the model called tools for it (their results are ToolGuard's)
    # model audio sent for it that a caller could not hear (evidence of an inaudible answer)
    inaudible_chunks: int = 0
    inaudible_bytes: int = 0
    level_sum: float = 0.0
    level_max: float = 0.0

    @property
    def paused(self) -> bool:
        """No deadline runs while the caller is still talking or a tool call is outstanding."""
        return self.anchor_t is None or bool(self.tools)


class TurnTracker:
    """Counters and conversation state of one caller session, fed every event in order."""

    def __init__(
        self,
        *,
        min_utterance_s: float = 0.25,
        inaudible_level: float = 0.0,
        blip_confirm_s: float = 2.0,
        max_history_turns: int = 64,
        max_turn_chars: int = 2000,
    ) -> None:
        self.min_utterance_s = min_utterance_s
        self.inaudible_level = inaudible_level
        self.blip_confirm_s = blip_confirm_s
        self.max_turn_chars = max_turn_chars
        self.turn = 1  # the model turn in progress; each TurnComplete closes one
        self.gemini_audio_chunks = 0  # model audio chunks this session (the incident's counter)
        self.turn_audio_chunks = 0
        self.turn_audible_chunks = 0  # chunks of this turn a caller can hear
        self.turn_level_max = 0.0  # loudest chunk of this turn (mean |sample|)
        self.turn_level_sum = 0.0  # for the turn's mean level
        self.last_chunk_level = -1.0  # level of the turn's latest chunk (-1: unknown / none)
        self.turn_output_text = ""  # the turn's output transcript (its tail, bounded)
        self.turn_generation_complete = False
        self.input_tokens = 0
        self.output_tokens = 0
        self.turn_output_tokens: int | None = None  # None: no usage reported in this turn
        self.last_user_tx = ""  # the caller's latest utterance as transcribed (incident's field)
        self.last_user_tx_t: float | None = None
        self._user_tx = ""
        self.last_model_audio_t: float | None = None
        self.caller_speaking = False
        self.vad_in_use = False  # local VAD reported speech at least once
        self.model_active = False  # model audio in the current turn, not completed/interrupted
        self.turn_interrupted = False  # an `interrupted` came in the current turn
        self.awaiting: Utterance | None = None
        # the utterance whose answer is being spoken: audio came, generation not yet complete
        # (a connection lost now cuts the answer short; see `reopen_cut_answer`)
        self.answering: Utterance | None = None
        #: the last utterance audible audio answered (a filler counts): the request background
        #: work is for, replayed when that work stalls
        self.last_answered: Utterance | None = None
        self._speech_start_t: float | None = None
        self._speech_text = ""
        self._blip: tuple[float, float] | None = None  # short VAD speech awaiting a transcript
        self._turn_first_audio_t: float | None = None
        self._history: deque[list[str]] = deque(maxlen=max_history_turns)

    # ------------------------------------------------------------------ read side

    def last_user_tx_age_ms(self, now: float) -> int:
        """Age of the last input transcript in ms, or -1 when there is none (incident's field)."""
        if self.last_user_tx_t is None:
            return -1
        return max(0, round((now - self.last_user_tx_t) * 1000))

    def incident_fields(self, now: float) -> dict[str, object]:
        """The incident's own fields, e.g. for `Interrupted(**tracker.incident_fields(t))`."""
        return {
            "turn": self.turn,
            "last_user_tx": self.last_user_tx,
            "last_user_tx_age_ms": self.last_user_tx_age_ms(now),
        }

    @property
    def history(self) -> tuple[tuple[str, str], ...]:
        """The conversation as (role "user"|"model", text) turns, oldest first, bounded."""
        out = []
        for role, text in self._history:
            text = text.strip()
            if text:
                out.append((role, text))
        return tuple(out)

    def seed_turns(self) -> tuple[tuple[str, str], ...]:
        """History up to the model's last words: the caller text after it is replayed instead."""
        turns = list(self.history)
        while turns and turns[-1][0] == "user":
            turns.pop()
        return tuple(turns)

    def unanswered_text(self) -> str:
        """The caller's words since the model last spoke (what a nudge or replay should carry)."""
        parts = []
        for role, text in reversed(self.history):
            if role != "user":
                break
            parts.append(text)
        return " ".join(reversed(parts))

    def reopen_cut_answer(self, t: float) -> Utterance | None:
        """The connection died while the model was still generating an answer: the caller heard
        only part of it, so that utterance awaits an answer again (from `t`). Returns it, or None
        when no answer was in flight."""
        utt, self.answering = self.answering, None
        if utt is None or self.awaiting is not None or self.caller_speaking:
            return None
        utt.judged = False
        utt.tools.clear()
        utt.end_t = utt.end_t if utt.end_t is not None else t
        utt.anchor_t = t
        self.awaiting = utt
        return utt

    # ------------------------------------------------------------------ feeding

    def audible(self, level: float) -> bool:
        """Can a caller hear a chunk of this level? -1 (unknown, an older log) counts as audible."""
        return level < 0 or level >= self.inaudible_level

    @property
    def turn_level_mean(self) -> float:
        return self.turn_level_sum / self.turn_audio_chunks if self.turn_audio_chunks else 0.0

    def feed(self, event: Event) -> list[Event]:
        """Update from one event; returns `TurnAnswered` when this event answered the caller."""
        if isinstance(event, ModelAudio):
            # a coalesced log record stands for several chunks: its running count says how many
            n = max(1, event.gemini_audio_chunks - self.gemini_audio_chunks)
            return self._on_model_audio(event.t, event.level, event.bytes, n)
        if isinstance(event, CallerSpeechStarted):
            self._on_speech_started(event.t)
        elif isinstance(event, CallerSpeechEnded):
            return self._on_speech_ended(event.t, event.duration_s)
        elif isinstance(event, InputTranscript):
            self._on_input_transcript(event.t, event.text)
        elif isinstance(event, CallerText):
            self._on_caller_text(event.t, event.text)
        elif isinstance(event, OutputTranscript):
            self._append("model", event.text)
            self.turn_output_text = (self.turn_output_text + event.text)[-_TAIL_CHARS:]
        elif isinstance(event, GenerationComplete):
            self.answering = None  # every word of the answer reached us
            self.turn_generation_complete = True
        elif isinstance(event, Interrupted):
            self.answering = None
            self.model_active = False
            self.turn_interrupted = True
            self._turn_first_audio_t = None
        elif isinstance(event, TurnComplete):
            self._end_turn()
            self.turn += 1
        elif isinstance(event, Usage):
            self.input_tokens += max(0, event.input_tokens)
            self.output_tokens += max(0, event.output_tokens)
            self.turn_output_tokens = (self.turn_output_tokens or 0) + max(0, event.output_tokens)
        elif isinstance(event, ToolCall):
            if self.awaiting is not None:
                self.awaiting.tools.update(event.ids or (ANY_TOOL,))
                self.awaiting.had_tools = True
        elif isinstance(event, ToolResponse | ToolCallCancelled):
            self._on_tool_done(event.t, event.ids)
        elif isinstance(event, UpstreamConnected):
            self._end_turn()  # a new connection starts with no model turn in flight
        elif isinstance(event, SessionEnded):
            self.awaiting = None
        return []

    def _end_turn(self) -> None:
        self.turn_audio_chunks = self.turn_audible_chunks = 0
        self.turn_level_max = self.turn_level_sum = 0.0
        self.last_chunk_level = -1.0
        self.turn_output_text = ""
        self.turn_generation_complete = False
        self.turn_output_tokens = None
        self.model_active = False
        self.turn_interrupted = False
        self._turn_first_audio_t = None
        self.answering = None

    def _on_model_audio(self, t: float, level: float, size: int, n: int = 1) -> list[Event]:
        self.gemini_audio_chunks += n
        self.turn_audio_chunks += n
        self.last_model_audio_t = t
        self.model_active = True
        self.last_chunk_level = level
        if level >= 0:
            self.turn_level_sum += level * n
            self.turn_level_max = max(self.turn_level_max, level)
        if not self.audible(level):  # the caller hears nothing: it answers nothing
            utt = self.awaiting
            if utt is not None:
                utt.inaudible_chunks += n
                utt.inaudible_bytes += size
                utt.level_sum += level * n
                utt.level_max = max(utt.level_max, level)
            return []
        self.turn_audible_chunks += n
        self._blip = None
        if self._turn_first_audio_t is None:
            self._turn_first_audio_t = t
        utt = self.awaiting
        if utt is None:
            return []
        self.awaiting = None
        self.answering = self.last_answered = utt
        end = utt.end_t if utt.end_t is not None else t
        return [TurnAnswered(t=t, turn=self.turn, latency_s=round(max(0.0, t - end), 6))]

    def _on_speech_started(self, t: float) -> None:
        self.vad_in_use = True
        self.caller_speaking = True
        self._speech_start_t = t
        self._speech_text = ""
        self._blip = None
        self.answering = None  # the caller speaks again: that is a new utterance
        utt = self.awaiting
        if utt is None:
            return
        if utt.judged:
            self.awaiting = None  # the guard has it; the caller's new words are a new utterance
        else:
            utt.end_t = utt.anchor_t = None  # the caller goes on: one utterance, deadline paused

    def _on_speech_ended(self, t: float, duration_s: float) -> list[Event]:
        self.vad_in_use = True
        self.caller_speaking = False
        start = self._speech_start_t if self._speech_start_t is not None else t - duration_s
        self._speech_start_t = None
        utt = self.awaiting
        if utt is not None:
            utt.end_t = utt.anchor_t = t
            return []
        first_audio = self._turn_first_audio_t
        if first_audio is not None and first_audio >= start:
            # The model began answering before our VAD's hangover ran out: already answered.
            return [TurnAnswered(t=t, turn=self.turn, latency_s=0.0)]
        duration = duration_s if duration_s > 0 else t - start
        if duration < self.min_utterance_s:
            self._blip = (start, t)
            return []
        self.awaiting = Utterance(start_t=start, end_t=t, anchor_t=t, text=self._speech_text)
        return []

    def _on_input_transcript(self, t: float, text: str) -> None:
        self._append("user", text)
        prev = self.last_user_tx_t
        raw = (self._user_tx + text) if prev is not None and t - prev < USER_TX_GAP_S else text
        self._user_tx = raw[: self.max_turn_chars]
        self.last_user_tx = self._user_tx.strip()
        self.last_user_tx_t = t
        utt = self.awaiting
        if utt is not None:
            utt.text += text
            if utt.source == "transcript" and not utt.judged and not utt.tools:
                utt.end_t = utt.anchor_t = t
            return
        if self.caller_speaking:
            self._speech_text += text
            return
        if self.model_active:
            return  # lags behind an utterance the model is already answering
        blip = self._blip
        if blip is not None and t - blip[1] > self.blip_confirm_s:
            blip = self._blip = None
        if self.vad_in_use and blip is None:
            return  # local VAD heard nothing new: a late fragment, not a new utterance
        start = blip[0] if blip is not None else t
        self._blip = None
        self.awaiting = Utterance(
            start_t=start, end_t=t, anchor_t=t, text=text, source="transcript"
        )

    def _on_caller_text(self, t: float, text: str) -> None:
        self._append(
            "user", (" " + text) if self._history and self._history[-1][0] == "user" else text
        )
        utt = self.awaiting
        if utt is not None and not utt.judged:
            utt.text = f"{utt.text} {text}".strip()
            if not utt.tools:
                utt.end_t = utt.anchor_t = t
            return
        self.awaiting = Utterance(start_t=t, end_t=t, anchor_t=t, text=text, source="text")

    def _on_tool_done(self, t: float, ids: tuple[str, ...]) -> None:
        utt = self.awaiting
        if utt is None or not utt.tools:
            return
        if ids:
            utt.tools.difference_update(ids)
            if utt.tools == {ANY_TOOL}:
                utt.tools.clear()
        else:
            utt.tools.clear()
        if not utt.tools and utt.end_t is not None:
            utt.anchor_t = t  # the model now has what it needs: the deadline starts again

    def _append(self, role: str, text: str) -> None:
        if not text:
            return
        if self._history and self._history[-1][0] == role:
            entry = self._history[-1]
            entry[1] = (entry[1] + text)[: self.max_turn_chars]
        else:
            self._history.append([role, text[: self.max_turn_chars]])
