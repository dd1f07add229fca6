"""The one event vocabulary of liveguard.

Every part speaks it: the guarded session produces these events, the guard consumes them (and
emits its own verdict and recovery events), telemetry writes them as JSONL, the report reads them
back and replay feeds them to the guard again. Field names follow the incident report where they fit
(`turn`, `gemini_audio_chunks`, `last_user_tx`, `last_user_tx_age_ms`, `skip_audio`).

An event carries `t`, seconds since the session started on a monotonic clock. The writer adds `ts`
(wall clock) and `session` when it serialises a record; they are not part of the event.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

# --------------------------------------------------------------------------- base


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event; `name` is the `event` field of its JSONL record."""

    name: ClassVar[str] = "event"
    t: float

    def fields(self) -> dict[str, Any]:
        """The event's own fields (without `t`), JSON-ready."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "t":
                continue
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_record(self) -> dict[str, Any]:
        """`{"t": ..., "event": name, **fields}`; telemetry adds `ts` and `session`."""
        return {"t": round(self.t, 6), "event": self.name, **self.fields()}


# --------------------------------------------------------------------------- session lifecycle


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted(Event):
    """A caller session began (one per call, across any number of upstream connections)."""

    name: ClassVar[str] = "session_start"
    session_id: str
    # "twilio" | "telnyx" | "plivo" | "vonage" | "exotel" (the carrier) | "browser" | "library"
    transport: str = "library"
    model: str = ""
    vad_mode: str = "server"  # "server" | "client"
    sdk_version: str = ""  # google-genai version, for upstream bug reports


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEnded(Event):
    name: ClassVar[str] = "session_end"
    reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    gemini_audio_chunks: int = 0


# --------------------------------------------------------------------------- upstream connection


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamConnecting(Event):
    """An upstream connect attempt; `purpose` is "initial", "resume", "fresh" or "rotate"."""

    name: ClassVar[str] = "upstream_connecting"
    attempt: int
    purpose: str = "initial"
    has_handle: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamConnected(Event):
    name: ClassVar[str] = "upstream_connected"
    attempt: int
    purpose: str = "initial"
    resumed: bool = False
    setup_ms: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamClosed(Event):
    """An upstream connection ended; `side` is "server" (their close) or "client" (ours)."""

    name: ClassVar[str] = "upstream_closed"
    code: int
    reason: str = ""
    side: str = "server"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumptionUpdate(Event):
    """A `sessionResumptionUpdate`; `handle` is None when `resumable` is false."""

    name: ClassVar[str] = "resumption_update"
    handle: str | None = None
    resumable: bool = False
    turn: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class GoAway(Event):
    name: ClassVar[str] = "go_away"
    time_left_s: float


# --------------------------------------------------------------------------- caller side


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerSpeechStarted(Event):
    """Local VAD heard the caller start speaking."""

    name: ClassVar[str] = "caller_speech_start"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerSpeechEnded(Event):
    """Local VAD heard the caller stop; the answer deadline runs from here."""

    name: ClassVar[str] = "caller_speech_end"
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerText(Event):
    """Text the caller (or the application) sent instead of audio."""

    name: ClassVar[str] = "caller_text"
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerDtmf(Event):
    name: ClassVar[str] = "caller_dtmf"
    digit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayoutMark(Event):
    """The caller's side confirmed it played model audio up to this mark."""

    name: ClassVar[str] = "playout_mark"
    mark: str
    played_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayoutCleared(Event):
    """Buffered model audio was dropped at the caller (a real barge-in)."""

    name: ClassVar[str] = "playout_cleared"
    unplayed_s: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerError(Event):
    """Bad caller input: the call continues or ends with this reason, others are unaffected."""

    name: ClassVar[str] = "caller_error"
    reason: str
    fatal: bool = False


# --------------------------------------------------------------------------- model / server side


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelAudio(Event):
    """One model audio chunk; `gemini_audio_chunks` counts chunks this session (incident's name)."""

    name: ClassVar[str] = "model_audio"
    bytes: int
    gemini_audio_chunks: int
    turn: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class InputTranscript(Event):
    name: ClassVar[str] = "input_transcript"
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputTranscript(Event):
    name: ClassVar[str] = "output_transcript"
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Interrupted(Event):
    """`serverContent.interrupted`; fields as the incident's author logged them."""

    name: ClassVar[str] = "interrupted"
    turn: int = 0
    last_user_tx: str = ""
    last_user_tx_age_ms: int = -1
    skip_audio: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationComplete(Event):
    name: ClassVar[str] = "generation_complete"
    turn: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnComplete(Event):
    """`serverContent.turnComplete`; `turn_audio_chunks` is the model audio within this turn."""

    name: ClassVar[str] = "turn_complete"
    turn: int
    gemini_audio_chunks: int = 0
    turn_audio_chunks: int = 0
    reason: str | None = None
    waiting_for_input: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage(Event):
    name: ClassVar[str] = "usage"
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceActivity(Event):
    """Server `voiceActivity` (ACTIVITY_START / ACTIVITY_END)."""

    name: ClassVar[str] = "voice_activity"
    kind: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall(Event):
    name: ClassVar[str] = "tool_call"
    ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallCancelled(Event):
    name: ClassVar[str] = "tool_call_cancellation"
    ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResponse(Event):
    """We sent a `toolResponse`; the guard restarts the answer deadline from here."""

    name: ClassVar[str] = "tool_response"
    ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivitySignal(Event):
    """We sent `activityStart` / `activityEnd` (client-side VAD mode)."""

    name: ClassVar[str] = "activity_signal"
    kind: str  # "start" | "end"


# --------------------------------------------------------------------------- guard


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnAnswered(Event):
    """A caller turn got model audio; latency runs from caller end of speech to first audio."""

    name: ClassVar[str] = "turn_answered"
    turn: int
    latency_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict(Event):
    """A guard decision with the evidence behind it.

    kind: "phantom_interrupt" | "real_interrupt" | "unanswered_turn" | "wedge" | "config_error".
    """

    name: ClassVar[str] = "verdict"
    kind: str
    turn: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthChanged(Event):
    """Session health: "healthy" | "suspect" | "wedged" | "recovering" | "failed"."""

    name: ClassVar[str] = "health"
    state: str
    previous: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryStarted(Event):
    """A recovery rung began: "nudge" | "resume" | "fresh" | "fallback" | "rotate" | "reconnect"."""

    name: ClassVar[str] = "recovery_start"
    rung: str
    attempt: int = 1
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryFinished(Event):
    """A rung ended: outcome "answered" | "failed" | "timeout" | "done"."""

    name: ClassVar[str] = "recovery_end"
    rung: str
    outcome: str
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorAlert(Event):
    name: ClassVar[str] = "operator_alert"
    reason: str


# --------------------------------------------------------------------------- registry

#: what the guard itself emits (its decisions), as opposed to what it observes
GUARD_EVENTS: tuple[type[Event], ...] = (
    TurnAnswered,
    Verdict,
    HealthChanged,
    RecoveryStarted,
    RecoveryFinished,
    OperatorAlert,
)

EVENT_TYPES: dict[str, type[Event]] = {
    cls.name: cls
    for cls in (
        SessionStarted,
        SessionEnded,
        UpstreamConnecting,
        UpstreamConnected,
        UpstreamClosed,
        ResumptionUpdate,
        GoAway,
        CallerSpeechStarted,
        CallerSpeechEnded,
        CallerText,
        CallerDtmf,
        PlayoutMark,
        PlayoutCleared,
        CallerError,
        ModelAudio,
        InputTranscript,
        OutputTranscript,
        Interrupted,
        GenerationComplete,
        TurnComplete,
        Usage,
        VoiceActivity,
        ToolCall,
        ToolCallCancelled,
        ToolResponse,
        ActivitySignal,
        *GUARD_EVENTS,
    )
}

_RECORD_META = frozenset({"t", "ts", "session", "event"})


class EventParseError(ValueError):
    """A record that is not a valid event (unknown name, missing or mistyped field)."""


_FieldCheck = tuple[str, str, type | None]  # (field name, kind, the JSON type that needs no check)
_FAST_TYPES: dict[str, type] = {"str": str, "int": int, "bool": bool, "dict": dict}


def _kind_of(annotation: Any) -> str:
    """Reduce a field annotation to a checkable kind (annotations are strings here)."""
    text = str(annotation).replace(" ", "")
    return {
        "str": "str",
        "int": "int",
        "float": "float",
        "bool": "bool",
        "str|None": "str?",
        "tuple[str,...]": "strs",
        "dict[str,Any]": "dict",
    }.get(text, "any")


_FIELD_CHECKS: dict[type[Event], tuple[_FieldCheck, ...]] = {
    cls: tuple(
        (f.name, kind, _FAST_TYPES.get(kind))
        for f in dataclasses.fields(cls)
        if f.name not in _RECORD_META
        for kind in (_kind_of(f.type),)
    )
    for cls in EVENT_TYPES.values()
}


def _is_number(value: Any) -> bool:
    """A finite JSON number (not a bool, not an int too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _coerce(name: str, key: str, kind: str, value: Any) -> Any:
    """Check one field's JSON value against its declared type; ints are fine where floats are."""
    ok: bool
    if kind == "str":
        ok = isinstance(value, str)
    elif kind == "str?":
        ok = value is None or isinstance(value, str)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = _is_number(value)
        value = float(value) if ok else value
    elif kind == "strs":
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    elif kind == "dict":
        ok = isinstance(value, dict)
    else:
        ok = True
    if not ok:
        raise EventParseError(f"{name}: field {key!r} has the wrong type: {value!r:.60}")
    return value


def event_from_record(record: dict[str, Any]) -> Event:
    """Rebuild an event from a JSONL record; unknown extra keys are ignored (other relays' logs).

    Field types are checked, so a malformed record fails here with EventParseError instead of
    deep inside a report or the guard.
    """
    if not isinstance(record, dict):
        raise EventParseError("record is not a JSON object")
    name = record.get("event")
    cls = EVENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise EventParseError(f"unknown event {name!r:.60}")
    t = record.get("t")
    if not (type(t) is float and t - t == 0.0) and not _is_number(t):  # fast path: finite float
        raise EventParseError(f"{name}: 't' must be a number, got {t!r:.60}")
    kwargs: dict[str, Any] = {"t": float(t)}
    for key, kind, fast in _FIELD_CHECKS[cls]:
        if key in record:
            value = record[key]
            # exact JSON type match needs no check (type(True) is bool, never int)
            kwargs[key] = value if type(value) is fast else _coerce(name, key, kind, value)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise EventParseError(f"{name}: {exc}") from None


# --------------------------------------------------------------------------- tools (the runner)
# Kept together at the end: liveguard.tools.runner emits these; docs/events.md and docs/tools.md.


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallStarted(Event):
    """The runner began one function call (`args` values redacted when transcripts are)."""

    name: ClassVar[str] = "tool_call_started"
    call_id: str
    tool: str
    kind: str = ""  # "function" | "webhook" | "" (undeclared)
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallFinished(Event):
    """One function call ended; `outcome` says how, and whether a response goes to the model.

    outcome: "ok" | "error" (the tool raised) | "timeout" | "webhook_error" | "undeclared" |
    "invalid_args" | "too_large" | "busy" | "cancelled" (no response is sent).
    """

    name: ClassVar[str] = "tool_call_finished"
    call_id: str
    tool: str
    outcome: str
    duration_ms: float = 0.0
    result_bytes: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResultRouted(Event):
    """A tool result took another way than a plain `toolResponse` on the connection where its
    call arrived (session/toolstate.py): after a reconnect.

    route: "resent" (a `toolResponse` again: the resumed session knew the call but not the
    answer) | "context" (clientContent: the session never saw the call id) | "dropped" (the
    session already has it, or the call was cancelled).
    """

    name: ClassVar[str] = "tool_result_routed"
    ids: tuple[str, ...] = ()
    route: str


TOOL_EVENTS: tuple[type[Event], ...] = (ToolCallStarted, ToolCallFinished, ToolResultRouted)
EVENT_TYPES.update({cls.name: cls for cls in TOOL_EVENTS})
_FIELD_CHECKS.update(
    {
        cls: tuple(
            (f.name, kind, _FAST_TYPES.get(kind))
            for f in dataclasses.fields(cls)
            if f.name not in _RECORD_META
            for kind in (_kind_of(f.type),)
        )
        for cls in TOOL_EVENTS
    }
)
