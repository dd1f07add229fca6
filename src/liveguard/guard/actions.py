"""What the guard asks the session to do. The session executes; the guard decides.

The guard returns a list mixing `liveguard.events.Event` (verdicts, health, recovery records, which
the session logs and forwards) and these actions (which the session carries out).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Action:
    """Base of every guard action."""


@dataclass(frozen=True, slots=True)
class SendText(Action):
    """Nudge: send the caller's last transcript as realtime `text` on the current connection."""

    text: str


@dataclass(frozen=True, slots=True)
class Reconnect(Action):
    """Close the current upstream (first), then open a new one.

    purpose: "resume" (use `handle`), "fresh" (no handle; re-seed `seed_turns`, no greeting),
    "rotate" (GoAway: resume with the newest healthy handle at a turn boundary).
    After connecting, replay caller audio buffered since `replay_from_t` (session seconds) if the
    ring buffer still holds it, else send `replay_text` as realtime text. Caller audio that arrives
    while reconnecting is queued and delivered after, never dropped. `delay_s`: wait this long
    first (the backoff after refused connects, `GuardPolicy.connect_backoff_s`).
    """

    purpose: str
    handle: str | None = None
    seed_turns: tuple[tuple[str, str], ...] = ()  # (role "user"|"model", text)
    replay_from_t: float | None = None
    replay_text: str | None = None
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class FlushPlayback(Action):
    """A real barge-in: drop model audio buffered at the caller (Twilio `clear`)."""


@dataclass(frozen=True, slots=True)
class PlayFiller(Action):
    """Optional: play the configured filler audio while recovering."""


@dataclass(frozen=True, slots=True)
class PlayFallback(Action):
    """Last rung: play the configured spoken fallback prompt; never a silent hang-up."""

    reason: str


@dataclass(frozen=True, slots=True)
class FailSession(Action):
    """Stop reconnecting (e.g. 1007: a configuration error); the session ends with this reason."""

    reason: str
