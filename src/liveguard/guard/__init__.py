"""The guard: a pure state machine (events and a clock in, verdicts and actions out).

Must not import asyncio or the SDK: it runs the same live, in tests and in replay.
"""

from liveguard.guard.activity import ActivityGate
from liveguard.guard.handles import HandleHistory, HandleRecord
from liveguard.guard.machine import Guard
from liveguard.guard.policy import GuardPolicy
from liveguard.guard.turns import TurnTracker, Utterance

__all__ = [
    "ActivityGate",
    "Guard",
    "GuardPolicy",
    "HandleHistory",
    "HandleRecord",
    "TurnTracker",
    "Utterance",
]
