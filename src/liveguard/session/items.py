"""What a guarded session yields besides plain events, and the errors it raises.

The application iterates one stream of items: `liveguard.events.Event` objects, plus the three
kinds below, plus the guard's playback actions (`FlushPlayback`, `PlayFiller`, `PlayFallback` from
`liveguard.guard.actions`), which the transport carries out (clear the caller's buffer, play audio).
"""

from __future__ import annotations

from dataclasses import dataclass

from google.genai import types

from liveguard.events import Event, ModelAudio, ToolCall
from liveguard.guard.actions import FlushPlayback, PlayFallback, PlayFiller


@dataclass(frozen=True, slots=True)
class AudioOut:
    """Audio for the caller: PCM16 mono little-endian at `rate` (24 kHz from the model).

    `source` is "model" (then `event` is the `ModelAudio` event describing this chunk; the stream
    yields the AudioOut in place of that event), or "filler" / "fallback" (configured WAV files
    played by the guard's PlayFiller / PlayFallback; `event` is None). `received_at` is
    `time.perf_counter()` when the upstream message arrived, for forwarding-time metrics (the
    session clock may tick in whole milliseconds: uvloop's does).
    """

    pcm: bytes
    rate: int
    event: ModelAudio | None = None
    source: str = "model"
    received_at: float | None = None

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.rate


@dataclass(frozen=True, slots=True)
class ToolCallOut:
    """A `toolCall` with its arguments.

    `handled`: the session runs these calls itself (tools configured, or a `tool_handler`) and
    answers them; the item is for display. Else answer with `GuardedSession.send_tool_response`.
    """

    calls: tuple[types.FunctionCall, ...]
    event: ToolCall
    handled: bool = False


Item = Event | AudioOut | ToolCallOut | FlushPlayback | PlayFiller | PlayFallback


class SessionFailed(RuntimeError):
    """The session could not start or had to stop; `code` is the upstream close code if any."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class LiveConfigError(SessionFailed):
    """The service refused the configuration (close 1007: bad key, bad field, context exhausted).

    Retrying with the same settings fails the same way, so liveguard never loops on it.
    """


class SessionClosed(RuntimeError):
    """Input was sent to a session that has ended."""
