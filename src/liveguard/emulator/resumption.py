"""Conversations that outlive connections: resumption handles, open lineages, fault budgets.

One `ResumptionStore` is shared by every connection of an emulator process. A handle maps to a
snapshot of a conversation; the store also remembers which conversation is open on which connection
(the service refuses to resume a conversation that is still connected), which lineages were wedged,
and which one-shot faults already fired where (so a fault fires once per conversation and at most
`max_times` per process). Sans-I/O: time comes in as `now`.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field, replace

__all__ = ["TOKENS_PER_AUDIO_SECOND", "Conversation", "ResumptionStore", "Turn", "trim"]

TOKENS_PER_AUDIO_SECOND = 25


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn of the conversation history (token accounting and `@repeat`)."""

    role: str  # "user" | "model"
    text: str
    audio_s: float = 0.0
    clip: str | None = None  # the reply clip of a model turn

    @property
    def tokens(self) -> int:
        return max(1, len(self.text) // 4) + round(self.audio_s * TOKENS_PER_AUDIO_SECOND)


@dataclass(slots=True)
class Conversation:
    """What a resumption handle restores."""

    lineage: str  # the conversation's id across all its connections
    history: list[Turn] = field(default_factory=list)
    model_turns: int = 0
    user_turns: int = 0
    wedged: bool = False
    seeded: bool = False  # history came from clientContent or a resumed handle
    tool_call_ids: set[str] = field(default_factory=set)  # function calls this conversation made

    def copy(self) -> Conversation:
        return replace(self, history=list(self.history), tool_call_ids=set(self.tool_call_ids))

    @property
    def last_reply(self) -> str | None:
        for turn in reversed(self.history):
            if turn.role == "model" and turn.clip:
                return turn.clip
        return None


@dataclass(slots=True)
class _Saved:
    conversation: Conversation
    issued_at: float
    ttl_s: float


def trim(table: dict, limit: int) -> None:
    """Drop the oldest entries of an insertion-ordered dict down to `limit`."""
    while len(table) > limit:
        table.pop(next(iter(table)))


class ResumptionStore:
    """Process-wide: handles, open conversations, fault budgets, connection ordinals."""

    MAX_HANDLES = 100_000
    MAX_CONVERSATIONS = 100_000  # remembered closed conversations / fired faults (oldest dropped)

    def __init__(self) -> None:
        self._handles: dict[str, _Saved] = {}
        self._open: dict[str, str] = {}  # lineage -> session_id holding it
        self._closed_at: dict[str, float] = {}
        self._wedged_lineages: dict[str, None] = {}
        self._fired: dict[tuple[str, str], None] = {}
        self._budget: dict[tuple[str, str], int] = {}
        self._ordinals: dict[str, int] = {}
        self._ids = itertools.count(1)

    def next_ordinal(self, scenario: str) -> int:
        n = self._ordinals.get(scenario, 0)
        self._ordinals[scenario] = n + 1
        return n

    def new_lineage(self) -> str:
        return f"c{next(self._ids)}"

    def issue(self, conversation: Conversation, now: float, ttl_s: float) -> str:
        n = next(self._ids)
        raw = f"liveguard-emulator:{conversation.lineage}:{n}".encode()
        handle = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if len(self._handles) >= self.MAX_HANDLES:
            self._handles.pop(next(iter(self._handles)))
        self._handles[handle] = _Saved(conversation.copy(), now, ttl_s)
        return handle

    def lookup(self, handle: str, now: float) -> Conversation | None:
        saved = self._handles.get(handle)
        if saved is None:
            return None
        lineage = saved.conversation.lineage
        closed = self._closed_at.get(lineage)
        if lineage not in self._open and closed is not None and now - closed > saved.ttl_s:
            return None
        return saved.conversation.copy()

    def holder(self, lineage: str) -> str | None:
        """The session id holding this conversation open, if any."""
        return self._open.get(lineage)

    def acquire(self, lineage: str, session_id: str) -> bool:
        """Mark the conversation open on this connection; False if another connection holds it."""
        holder = self._open.get(lineage)
        if holder is not None and holder != session_id:
            return False
        self._open[lineage] = session_id
        return True

    def release(self, lineage: str, session_id: str, now: float) -> None:
        if self._open.get(lineage) == session_id:
            del self._open[lineage]
            self._closed_at.pop(lineage, None)
            self._closed_at[lineage] = now
            trim(self._closed_at, self.MAX_CONVERSATIONS)

    def mark_wedged(self, lineage: str) -> None:
        self._wedged_lineages[lineage] = None
        trim(self._wedged_lineages, self.MAX_CONVERSATIONS)

    def lineage_wedged(self, lineage: str) -> bool:
        return lineage in self._wedged_lineages

    def fired(self, lineage: str, fault: str) -> bool:
        return (lineage, fault) in self._fired

    def fire(self, lineage: str, fault: str, scenario: str, max_times: int | None) -> bool:
        """Record that a fault fires now; False if it already fired here or its budget is spent."""
        if (lineage, fault) in self._fired:
            return False
        key = (scenario, fault)
        if max_times is not None and self._budget.get(key, 0) >= max_times:
            return False
        self._fired[(lineage, fault)] = None
        trim(self._fired, self.MAX_CONVERSATIONS)
        self._budget[key] = self._budget.get(key, 0) + 1
        return True
