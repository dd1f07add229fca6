"""A guarded session's bounds and tuning (`SessionBounds`) and its counters (`SessionCounters`).

Why a dataclass: the constructor of `GuardedSession` takes these as keyword arguments (they are
documented one by one in docs/session.md); grouped, they are validated once, in one place, and a
relay can build one and pass it to every session (`GuardedSession(bounds=...)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

DEFAULT_RATE = 16000
CALLER_RATES = (8000, 16000)
FRAMES_PER_SECOND = 50  # 20 ms frames: the smallest unit a caller sends


@dataclass(frozen=True, slots=True)
class SessionBounds:
    """How much a session keeps and how fast it replays; every queue is bounded by one of these."""

    ring_seconds: float = 30.0  # caller audio kept for replay
    #: the rate caller audio goes upstream at; None: the first frame's rate (the service resamples
    #: any declared rate, so phone audio goes at 8 kHz, unresampled)
    upstream_rate: int | None = None
    queue_seconds: float = 60.0  # caller audio that may wait during a reconnect
    replay_speed: float = 4.0  # replay pace, times real time
    preroll_ms: int = 300  # client VAD: audio re-sent after activityStart
    max_items: int = 2000  # item stream bound
    #: refused connects in a row before the session fails; None: `settings.guard`'s (4)
    max_connect_failures: int | None = None

    def __post_init__(self) -> None:
        if self.replay_speed <= 0:
            raise ValueError("replay_speed must be positive")
        if self.upstream_rate is not None and self.upstream_rate not in CALLER_RATES:
            raise ValueError(f"upstream_rate must be one of {CALLER_RATES} or None")

    @property
    def queue_frames(self) -> int:
        """Outbound queue size: `queue_seconds` of 20 ms frames (at least one second)."""
        return max(FRAMES_PER_SECOND, int(self.queue_seconds * FRAMES_PER_SECOND))

    @property
    def preroll_s(self) -> float:
        return self.preroll_ms / 1000.0


class BoundsKwargs(TypedDict, total=False):
    """`SessionBounds`' fields as `GuardedSession` keyword arguments."""

    ring_seconds: float
    upstream_rate: int | None
    queue_seconds: float
    replay_speed: float
    preroll_ms: int
    max_items: int
    max_connect_failures: int | None


@dataclass(slots=True)
class SessionCounters:
    """Counters an operator or a test compares with the other side's (`GuardedSession.stats`)."""

    frames_in: int = 0  # send_audio calls accepted
    frames_sent: int = 0  # caller audio messages written upstream (live audio only)
    replay_frames: int = 0  # audio messages re-sent from the ring buffer after a reconnect
    preroll_frames: int = 0  # client VAD: audio re-sent right after activityStart
    texts_sent: int = 0
    activity_signals: int = 0
    connects: int = 0  # successful upstream connects, the first included
    connect_failures: int = 0  # refused connects and setup timeouts
    setup_timeouts: int = 0  # connects abandoned without setupComplete (guard.setup_timeout_s)
    max_queued: int = 0  # deepest the outbound queue got
