"""Client-side VAD mode: when to send `activityStart` / `activityEnd`.

With `automaticActivityDetection.disabled = true` the server hears the caller only inside an
activity. Two failure modes matter: an activity opened for non-speech (line noise becomes a turn,
and an activity with no audio is closed by the service with 1007 "Precondition check failed"), and
an activity never closed (the model waits forever: silence). So the gate opens only on local-VAD
speech (`CallerSpeechStarted`, which the VAD emits after its own start windows), never on
transcripts, text, DTMF or energy, and it closes every activity it opened: at the caller's end of
speech, before the session closes a connection (`closing`), and at session end. If the connection
dropped under an open activity, the activity died with it; when a new connection comes up while
the caller is still speaking, the gate opens a fresh activity there.

Pure: fed events, returns `ActivitySignal` events that the session sends (and logs).
"""

from __future__ import annotations

from liveguard.events import (
    ActivitySignal,
    CallerSpeechEnded,
    CallerSpeechStarted,
    Event,
    SessionEnded,
    UpstreamClosed,
    UpstreamConnected,
    UpstreamConnecting,
)


class ActivityGate:
    """Decides activity signals for one caller session in client-side VAD mode."""

    def __init__(self, *, connected: bool = True) -> None:
        self.connected = connected
        self.is_open = False  # an activityStart was sent on the current connection, no end yet
        self.caller_speaking = False
        self.opened = 0
        self.closed = 0
        self._ended = False

    def feed(self, event: Event) -> list[ActivitySignal]:
        """Apply one event; returns the signals to send now (on the current connection)."""
        t = event.t
        if self._ended:
            return []
        if isinstance(event, CallerSpeechStarted):
            self.caller_speaking = True
            return self._open(t)
        if isinstance(event, CallerSpeechEnded):
            self.caller_speaking = False
            return self._close(t)
        if isinstance(event, UpstreamConnected):
            self.connected = True
            return self._open(t) if self.caller_speaking else []
        if isinstance(event, UpstreamConnecting):
            out = self._close(t) if self.connected else []
            self.connected = False
            return out
        if isinstance(event, UpstreamClosed):
            # Ours: `closing` already ended it. Theirs: the activity died with the connection.
            self.connected = False
            self.is_open = False
            return []
        if isinstance(event, SessionEnded):
            out = self._close(t)
            self._ended = True
            return out
        return []

    def closing(self, t: float) -> list[ActivitySignal]:
        """Call before the session closes the upstream itself (reconnect, hang-up): send these
        on the old connection first, so no activity is left open."""
        out = self._close(t)
        self.connected = False
        return out

    def _open(self, t: float) -> list[ActivitySignal]:
        if self.is_open or not self.connected or not self.caller_speaking:
            return []
        self.is_open = True
        self.opened += 1
        return [ActivitySignal(t=t, kind="start")]

    def _close(self, t: float) -> list[ActivitySignal]:
        if not self.is_open:
            return []
        self.is_open = False
        self.closed += 1
        return [ActivitySignal(t=t, kind="end")]
