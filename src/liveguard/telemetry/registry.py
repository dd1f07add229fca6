"""Live sessions as the dashboard sees them: health state, recent events, recent incidents.

The relay registers each session when it starts, feeds it events (the callback from
`SessionRegistry.callback(session_id)` is an `on_event` hook) and unregisters it at the end.
Everything is bounded: recent events per session, recent incidents overall, recently ended
sessions kept for a short look-back, and the number of sessions tracked.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from liveguard.events import (
    Event,
    HealthChanged,
    OperatorAlert,
    RecoveryFinished,
    RecoveryStarted,
    SessionEnded,
    SessionStarted,
    TurnComplete,
    UpstreamClosed,
    Verdict,
)

# verdicts worth showing in "recent incidents" (real interrupts are normal barge-ins)
INCIDENT_VERDICTS = frozenset({"phantom_interrupt", "unanswered_turn", "wedge", "config_error"})


@dataclass
class LiveSession:
    """One session's dashboard state."""

    session_id: str
    started_wall: float
    transport: str = ""
    model: str = ""
    health: str = "healthy"
    turns: int = 0
    incidents: int = 0
    ended_wall: float | None = None
    end_reason: str = ""
    recent: deque[Event] = field(default_factory=lambda: deque(maxlen=300))

    def as_dict(self) -> dict[str, Any]:
        last_t = self.recent[-1].t if self.recent else 0.0
        return {
            "session": self.session_id,
            "started": self.started_wall,
            "transport": self.transport,
            "model": self.model,
            "health": self.health,
            "turns": self.turns,
            "incidents": self.incidents,
            "ended": self.ended_wall,
            "end_reason": self.end_reason,
            "t": last_t,
            "events": len(self.recent),
        }


class SessionRegistry:
    """Bounded registry of live (and just-ended) sessions for `/sessions`."""

    def __init__(
        self,
        *,
        max_sessions: int = 5000,
        recent_events: int = 300,
        recent_incidents: int = 100,
        keep_ended: int = 50,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_sessions = max_sessions
        self.recent_events = recent_events
        self._clock = clock
        self._live: OrderedDict[str, LiveSession] = OrderedDict()
        self._ended: deque[LiveSession] = deque(maxlen=keep_ended)
        self.incidents: deque[dict[str, Any]] = deque(maxlen=recent_incidents)
        self.dropped_sessions = 0
        #: which process (host:pid) this registry belongs to, in snapshots for a shared index
        self.worker = ""
        #: called on every change (a shared index publishes after it; None: nobody listens)
        self.on_change: Callable[[], None] | None = None

    def register(self, session_id: str, *, transport: str = "", model: str = "") -> LiveSession:
        """Track a new session (re-registering an id replaces it). Beyond `max_sessions` the
        oldest is dropped from the dashboard (never from the relay)."""
        live = LiveSession(
            session_id=session_id,
            started_wall=self._clock(),
            transport=transport,
            model=model,
            recent=deque(maxlen=self.recent_events),
        )
        self._live.pop(session_id, None)
        self._live[session_id] = live
        self._changed()
        while len(self._live) > self.max_sessions:
            self._live.popitem(last=False)
            self.dropped_sessions += 1
        return live

    def unregister(self, session_id: str, reason: str = "") -> None:
        live = self._live.pop(session_id, None)
        if live is not None:
            live.ended_wall = self._clock()
            live.end_reason = live.end_reason or reason
            live.health = "ended" if live.health in ("healthy", "") else live.health
            self._ended.append(live)
            self._changed()

    def record(self, session_id: str, event: object) -> None:
        """Add one event of a session (unknown sessions are registered on the fly)."""
        if not isinstance(event, Event):
            return
        live = self._live.get(session_id)
        if live is None:
            live = self.register(session_id)
        live.recent.append(event)
        if isinstance(event, SessionStarted):
            live.transport = event.transport or live.transport
            live.model = event.model or live.model
        elif isinstance(event, HealthChanged):
            live.health = event.state
        elif isinstance(event, TurnComplete):
            live.turns = max(live.turns, event.turn)
        elif isinstance(event, SessionEnded):
            live.end_reason = event.reason
        incident = _incident(event)
        if incident is not None:
            live.incidents += 1
            self.incidents.append(
                {"session": session_id, "wall": self._clock(), "worker": self.worker, **incident}
            )
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def callback(self, session_id: str) -> Callable[[object], None]:
        """An `on_event` hook that records into this registry."""
        return lambda event: self.record(session_id, event)

    def get(self, session_id: str) -> LiveSession | None:
        live = self._live.get(session_id)
        if live is None:
            live = next((s for s in self._ended if s.session_id == session_id), None)
        return live

    def live(self) -> list[LiveSession]:
        return list(self._live.values())

    def ended(self) -> list[LiveSession]:
        return list(self._ended)

    def __len__(self) -> int:
        return len(self._live)

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state (without timelines) for `/sessions.json`."""
        worker = {"worker": self.worker}
        return {
            "now": self._clock(),
            "worker": self.worker,
            "live": [s.as_dict() | worker for s in self._live.values()],
            "ended": [s.as_dict() | worker for s in reversed(self._ended)],
            "incidents": list(reversed(self.incidents)),
            "dropped_sessions": self.dropped_sessions,
        }


def _incident(event: Event) -> dict[str, Any] | None:
    if isinstance(event, Verdict) and event.kind in INCIDENT_VERDICTS:
        return {"t": event.t, "kind": event.kind, "detail": f"turn {event.turn}"}
    if isinstance(event, RecoveryStarted):
        return {"t": event.t, "kind": "recovery", "detail": f"{event.rung} #{event.attempt}"}
    if isinstance(event, RecoveryFinished) and event.outcome != "answered":
        return {"t": event.t, "kind": "recovery_" + event.outcome, "detail": event.rung}
    if isinstance(event, OperatorAlert):
        return {"t": event.t, "kind": "operator_alert", "detail": event.reason[:200]}
    if isinstance(event, UpstreamClosed) and event.side == "server" and event.code != 1000:
        return {
            "t": event.t,
            "kind": "upstream_close",
            "detail": f"{event.code} {event.reason}"[:200],
        }
    return None
