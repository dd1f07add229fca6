"""What waits in a guarded session's outbound queue: one typed item per message to write upstream.

Why typed: the sender, the pre-roll and the tests read fields by name, and a type checker sees a
misspelt one. Frozen: an item is not changed between being queued and being written.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.genai import types

from liveguard.events import CallerSpeechEnded, CallerSpeechStarted


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """Caller audio at the session's upstream rate, as `send_audio` got it at session time `t`.

    `received_at`: `time.perf_counter()` when the transport got the frame (forwarding metric).
    """

    t: float
    pcm: bytes
    received_at: float | None = None


@dataclass(frozen=True, slots=True)
class TextOut:
    """Realtime `text`: the greeting, the caller's text, or the guard's nudge."""

    text: str


@dataclass(frozen=True, slots=True)
class SpeechEdge:
    """Client VAD: a caller speech start or end, queued in order with the audio around it.

    `speech_at` (starts only): session time the VAD placed the onset at (the pre-roll's anchor).
    """

    event: CallerSpeechStarted | CallerSpeechEnded
    speech_at: float | None = None


@dataclass(frozen=True, slots=True)
class ToolResponses:
    """The application's answer to a tool call."""

    responses: tuple[types.FunctionResponse, ...]


Outbound = AudioFrame | TextOut | SpeechEdge | ToolResponses
