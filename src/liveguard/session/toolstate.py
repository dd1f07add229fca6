"""Which upstream session knows which tool call: the decisions that keep tool results from being
lost or misdelivered across reconnects (docs/session.md, "Tool calls across reconnects").

Why a plain object: the rules are about order (a call arrived, a handle was issued, a response
was written, a connection resumed from a handle) and are tested in fast time without a socket.
It is fed the session's events (`feed`) plus what only the shell knows (`connecting(handle)`,
`delivered(plan)`), and answers:

- `route(responses)`: for the connection now open, each response goes as a `toolResponse` when
  that session knows the call id and has no answer for it yet; as conversation context
  (`clientContent`) when it never saw the id (it resumed from a handle issued before the call,
  or is fresh); nowhere when it already has the answer or the call was cancelled.
- `after_connect()`: what a new connection lacks of the results already delivered on an older
  one (a resume from a handle issued before the response: sent again as a `toolResponse`, or as
  context when the call itself is unknown there).
- `seed_turns()`: a fresh session's tool history (call and result, as text turns).
- `settled()` / `rotation_handle(default)`: a goAway rotation waits until every call is answered
  and a handle issued after the last answer has arrived, then resumes from that handle.

A session "knows" a call when the call arrived on it, or it resumed from a handle issued after the
call arrived on a session that knew it; likewise for a response.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field

from google.genai import types

from liveguard import events as ev

MAX_CALLS = 64  # calls remembered (oldest settled ones are forgotten first)
MAX_HANDLES = 64
MAX_SEED_CHARS = 2000  # one result's text in a seed / context turn
GOAWAY_MARGIN_S = 1.0


@dataclass(slots=True)
class _Call:
    call_id: str
    name: str
    args: dict
    response: types.FunctionResponse | None = None
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class _Knowledge:
    """What one server-side session holds: call ids it saw, ids it has an answer for, ids it
    has as conversation text (seed or context)."""

    known: frozenset[str] = frozenset()
    answered: frozenset[str] = frozenset()
    in_context: frozenset[str] = frozenset()


@dataclass(slots=True)
class DeliveryPlan:
    """What to write on the open connection: `responses` as a `toolResponse`, `context` as
    clientContent turns (then `nudge` as text so the model speaks about them)."""

    responses: list[types.FunctionResponse] = field(default_factory=list)
    context: list[types.FunctionResponse] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.responses or self.context)

    def context_turns(self) -> tuple[tuple[str, str], ...]:
        return tuple(("user", result_text(r)) for r in self.context)

    @property
    def nudge(self) -> str:
        names = ", ".join(sorted({r.name or "a tool" for r in self.context}))
        return f"The result of {names} has arrived; tell the caller what it says."


def result_text(r: types.FunctionResponse) -> str:
    body = json.dumps(r.response or {}, separators=(",", ":"), default=str)[:MAX_SEED_CHARS]
    return f"[tool result: {r.name} (call {r.id}) returned {body}]"


class ToolLedger:
    """Tool calls and the upstream sessions that know them; see the module docstring."""

    def __init__(self) -> None:
        self.calls: OrderedDict[str, _Call] = OrderedDict()
        self.now = _Knowledge()  # the connection open now (or last open)
        self.handles: OrderedDict[str, _Knowledge] = OrderedDict()
        self.newest_handle: str | None = None
        self._next_handle: str | None = None
        self._fresh_seeded: frozenset[str] = frozenset()
        self.goaway_by: float | None = None  # rotate at the latest by then (session time)

    # ------------------------------------------------------------------ fed

    def feed(self, event: ev.Event, calls: tuple[types.FunctionCall, ...] = ()) -> None:
        """One session event (`calls`: the ToolCallOut's calls, for names and arguments)."""
        if isinstance(event, ev.ToolCall):
            by_id = {c.id: c for c in calls}
            for call_id, name in zip(event.ids, event.names, strict=False):
                c = by_id.get(call_id)
                self._remember(_Call(call_id, name, dict(c.args or {}) if c else {}))
            self.now = _replace(self.now, known=self.now.known | set(event.ids))
        elif isinstance(event, ev.ToolCallCancelled):
            for call_id in event.ids:
                if call_id in self.calls:
                    self.calls[call_id].cancelled = True
        elif isinstance(event, ev.ResumptionUpdate) and event.handle and event.resumable:
            self.handles[event.handle] = self.now
            self.handles.move_to_end(event.handle)
            while len(self.handles) > MAX_HANDLES:
                self.handles.popitem(last=False)
            self.newest_handle = event.handle
        elif isinstance(event, ev.UpstreamConnected):
            handle = self._next_handle if event.resumed else None
            if handle is None:
                self.now = _Knowledge(in_context=self._fresh_seeded)
            else:
                self.now = self.handles.get(handle, _Knowledge())
            self._fresh_seeded = frozenset()
            self.goaway_by = None
        elif isinstance(event, ev.GoAway):
            self.goaway_by = event.t + max(0.0, event.time_left_s - GOAWAY_MARGIN_S)

    def connecting(self, handle: str | None) -> None:
        """The shell is about to connect with this handle (None: a fresh session)."""
        self._next_handle = handle

    def delivered(self, plan: DeliveryPlan) -> None:
        """`plan` was written on the open connection."""
        ids = {r.id or "" for r in plan.responses}
        ctx = {r.id or "" for r in plan.context}
        for r in (*plan.responses, *plan.context):  # kept for re-delivery and a fresh seed
            call = self.calls.get(r.id or "")
            if call is not None:
                call.response = r
        self.now = _replace(
            self.now,
            answered=self.now.answered | ids,
            in_context=self.now.in_context | ctx,
        )

    # ------------------------------------------------------------------ decisions

    def route(self, responses: tuple[types.FunctionResponse, ...]) -> DeliveryPlan:
        """Where each response goes on the connection open now."""
        plan = DeliveryPlan()
        k = self.now
        for r in responses:
            cid = r.id or ""
            call = self.calls.get(cid)
            if (call is not None and call.cancelled) or cid in k.answered or cid in k.in_context:
                plan.dropped.append(cid)
            elif cid in k.known or call is None:  # an id we never saw: the server's to judge
                plan.responses.append(r)
            else:
                plan.context.append(r)
        return plan

    def after_connect(self) -> DeliveryPlan:
        """Results already delivered elsewhere that the connection open now lacks."""
        ready = tuple(
            c.response for c in self.calls.values() if c.response is not None and not c.cancelled
        )
        return self.route(ready)

    def seed_turns(self) -> tuple[tuple[str, str], ...]:
        """A fresh session's tool history: each answered call and its result, oldest first.
        The connection that follows holds them as context (`in_context`)."""
        turns: list[tuple[str, str]] = []
        seeded: set[str] = set()
        for c in self.calls.values():
            if c.response is None or c.cancelled:
                continue
            args = json.dumps(c.args, separators=(",", ":"), default=str)[:MAX_SEED_CHARS]
            turns.append(("model", f"[I called the tool {c.name} with {args}]"))
            turns.append(("user", result_text(c.response)))
            seeded.add(c.call_id)
        self._fresh_seeded = frozenset(seeded)
        return tuple(turns)

    def settled(self) -> bool:
        """Every call this session knows is answered, and a handle issued after the last answer
        has arrived (so resuming from the newest handle loses nothing)."""
        if self.newest_handle is None:
            return not self._open_ids(self.now)
        return not self._open_ids(self.handles.get(self.newest_handle, _Knowledge()))

    def rotation_handle(self, default: str | None) -> str | None:
        """The handle a goAway rotation resumes from: the newest, once `settled()`."""
        if self.newest_handle is not None and self.settled():
            return self.newest_handle
        return default

    def pending(self) -> list[str]:
        """Call ids with no result yet (not cancelled)."""
        return [c.call_id for c in self.calls.values() if c.response is None and not c.cancelled]

    # ------------------------------------------------------------------ helpers

    def _open_ids(self, k: _Knowledge) -> set[str]:
        return {
            c.call_id
            for c in self.calls.values()
            if not c.cancelled
            and c.call_id in self.now.known
            and c.call_id not in k.answered
            and c.call_id not in k.in_context
        }

    def _remember(self, call: _Call) -> None:
        self.calls[call.call_id] = call
        gone: set[str] = set()
        while len(self.calls) > MAX_CALLS:
            gone.add(self.calls.popitem(last=False)[0])
        if gone:  # what no session needs routed any more leaves every knowledge set too
            self.now = _without(self.now, gone)
            for h, k in self.handles.items():
                self.handles[h] = _without(k, gone)


def _replace(k: _Knowledge, **sets: set[str] | frozenset[str]) -> _Knowledge:
    return _Knowledge(
        known=frozenset(sets.get("known", k.known)),
        answered=frozenset(sets.get("answered", k.answered)),
        in_context=frozenset(sets.get("in_context", k.in_context)),
    )


def _without(k: _Knowledge, gone: set[str]) -> _Knowledge:
    return _Knowledge(
        known=k.known - gone, answered=k.answered - gone, in_context=k.in_context - gone
    )
