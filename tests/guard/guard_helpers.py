"""Shared builders for the guard tests: scripted event streams and output summaries."""

from __future__ import annotations

from liveguard.events import (
    CallerSpeechEnded,
    CallerSpeechStarted,
    Event,
    GenerationComplete,
    InputTranscript,
    Interrupted,
    ModelAudio,
    OutputTranscript,
    ResumptionUpdate,
    SessionStarted,
    TurnComplete,
    UpstreamConnected,
    UpstreamConnecting,
    Usage,
)
from liveguard.guard import Guard
from liveguard.guard.actions import Action


def label(item: Event | Action) -> str:
    """A short name for one guard output: `verdict:wedge`, `health:suspect`, `SendText`."""
    name = getattr(item, "name", None)
    if isinstance(item, Action):
        return type(item).__name__
    if name == "verdict":
        return f"verdict:{item.kind}"
    if name == "health":
        return f"health:{item.state}"
    if name in ("recovery_start", "recovery_end"):
        extra = f":{item.outcome}" if name == "recovery_end" else ""
        return f"{name}:{item.rung}{extra}"
    return str(name)


def run(guard: Guard, events: list[Event], until: float | None = None) -> list[Event | Action]:
    """Feed every event in order, then tick to `until` (if given)."""
    out: list[Event | Action] = []
    for ev in events:
        out.extend(guard.feed(ev))
    if until is not None:
        out.extend(guard.tick(until))
    return out


def labels(outputs: list[Event | Action], *, skip_answered: bool = True) -> list[str]:
    return [label(o) for o in outputs if not (skip_answered and label(o) == "turn_answered")]


def connect(t: float = 0.0, handle: str = "h-setup") -> list[Event]:
    return [
        SessionStarted(t=t, session_id="test"),
        UpstreamConnecting(t=t, attempt=1),
        UpstreamConnected(t=t + 0.3, attempt=1),
        ResumptionUpdate(t=t + 0.35, handle=handle, resumable=True),
    ]


def model_turn(t: float, chunks: int, turn: int, text: str = "Sure.", step: float = 0.1):
    """A model answer: audio chunks, its transcript, usage, generationComplete, turnComplete."""
    evs: list[Event] = []
    for i in range(chunks):
        evs.append(ModelAudio(t=t + i * step, bytes=9600, gemini_audio_chunks=0, turn=turn))
    evs.append(OutputTranscript(t=t + 0.05, text=text))
    end = t + chunks * step
    evs.append(Usage(t=end, input_tokens=100, output_tokens=25 * chunks))
    evs.append(GenerationComplete(t=end, turn=turn))
    evs.append(TurnComplete(t=end + 0.2, turn=turn))
    return evs, end + 0.2


def caller_says(start: float, duration: float, text: str, hangover: float = 0.4) -> list[Event]:
    """Local VAD start/end around an utterance, with its input transcription in two fragments."""
    words = text.split(" ")
    half = max(1, len(words) // 2)
    return [
        CallerSpeechStarted(t=start),
        InputTranscript(t=start + duration * 0.4, text=" ".join(words[:half])),
        InputTranscript(t=start + duration * 0.9, text=" " + " ".join(words[half:])),
        CallerSpeechEnded(t=start + duration + hangover, duration_s=duration + hangover),
    ]


GREETING = "Hello, thanks for calling. How can I help?"
UTTERANCE = "I need to change my booking"


def incident_prefix() -> list[Event]:
    """Seed 2333 up to the caller's first unanswered utterance (no turnComplete for it yet).

    Greeting of 11 chunks, turnComplete, then `interrupted` with no caller speech at all
    (last_user_tx "" / age -1), a turnComplete with no audio, and later a real caller utterance.
    """
    evs = connect()
    greeting, _ = model_turn(0.5, 11, 1, GREETING)
    evs += [e for e in greeting if not isinstance(e, TurnComplete)]
    evs.append(ResumptionUpdate(t=1.9, handle="h-healthy", resumable=True))
    evs.append(TurnComplete(t=2.0, turn=1, gemini_audio_chunks=11, turn_audio_chunks=11))
    evs.append(Interrupted(t=2.0, turn=2, last_user_tx="", last_user_tx_age_ms=-1))
    evs.append(ResumptionUpdate(t=3.0, handle="h-poisoned", resumable=True))
    evs.append(TurnComplete(t=5.0, turn=2, gemini_audio_chunks=11))
    evs.append(Usage(t=5.0, input_tokens=900, output_tokens=0))
    evs += caller_says(13.0, 1.6, UTTERANCE)  # VAD end at 15.0
    evs.append(ResumptionUpdate(t=15.2, handle="h-poisoned-2", resumable=True))
    return evs
