"""`liveguard replay LOG`: what the guard would have decided on a recorded session, and when.

The recorded events (minus the guard's own records: verdicts, health, recoveries, answered turns,
operator alerts) are fed in order to a fresh `Guard`. Between two events the clock is advanced
deadline by deadline (`next_deadline()` then `tick(deadline)`), exactly as the live session's ticker
does, so timeouts fire at the same session times. Nothing here reads a clock or a random source:
the same log and settings always print the same lines. This is how thresholds are tuned offline:

    liveguard replay call.jsonl --set guard.answer_deadline_s=2

Note that replay cannot know how the upstream would have reacted to different decisions; after
the first decision that differs from the recording, the log's later events still show what the
live guard's choices led to.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from liveguard.events import (
    GUARD_EVENTS,
    BackgroundWork,
    Event,
    HealthChanged,
    OperatorAlert,
    RecoveryFinished,
    RecoveryStarted,
    SessionEnded,
    TurnAnswered,
    Verdict,
)

MAX_TICKS_PER_GAP = 10_000  # a guard whose deadline never advances must not hang replay


@dataclass(frozen=True, slots=True)
class Decision:
    """One thing the guard returned, at session time `t` (an Event or an Action)."""

    t: float
    item: Any

    def signature(self) -> str:
        """What was decided, without when: used to compare replay with the recording."""
        return describe(self.item, with_details=False)

    def line(self) -> str:
        return f"T+{self.t:9.3f}  {describe(self.item)}"


def describe(item: Any, *, with_details: bool = True) -> str:
    """A stable one-line description of a guard output."""
    if isinstance(item, Verdict):
        head = f"verdict {item.kind} turn={item.turn}"
        if with_details and item.evidence:
            head += " evidence=" + json.dumps(item.evidence, sort_keys=True, default=str)
        return head
    if isinstance(item, HealthChanged):
        return f"health {item.previous or '?'} -> {item.state}"
    if isinstance(item, RecoveryStarted):
        tail = f" attempt={item.attempt} reason={item.reason}" if with_details else ""
        return f"recovery_start {item.rung}{tail}"
    if isinstance(item, RecoveryFinished):
        tail = f" duration_s={item.duration_s:.3f}" if with_details else ""
        return f"recovery_end {item.rung} {item.outcome}{tail}"
    if isinstance(item, TurnAnswered):
        tail = f" latency_s={item.latency_s:.3f}" if with_details else ""
        return f"turn_answered turn={item.turn}{tail}"
    if isinstance(item, OperatorAlert):
        return f"operator_alert {item.reason}"
    if isinstance(item, BackgroundWork):
        tail = f" budget_s={item.budget_s:g}" if with_details else ""
        if with_details and item.phase != "start":
            tail += f" duration_s={item.duration_s:.3f}"
        return f"background {item.phase} turn={item.turn}{tail}"
    if isinstance(item, Event):
        return f"{item.name} " + json.dumps(item.fields(), sort_keys=True, default=str)
    # an Action: a frozen dataclass
    fields = getattr(item, "__dataclass_fields__", {})
    parts = []
    for name in fields:
        value = getattr(item, name)
        if not with_details and name in ("seed_turns", "replay_text", "text"):
            continue
        if isinstance(value, str) and len(value) > 60:
            value = value[:57] + "..."
        parts.append(f"{name}={value!r}")
    return f"action {type(item).__name__}" + (" " + " ".join(parts) if parts else "")


def _new_guard(policy: Any) -> Any:
    from liveguard.guard.machine import Guard
    from liveguard.guard.policy import GuardPolicy

    return Guard(policy if policy is not None else GuardPolicy())


def replay_events(events: Iterable[Event], policy: Any = None) -> list[Decision]:
    """Feed recorded events to a fresh guard; every decision with its session time, in order."""
    guard = _new_guard(policy)
    out: list[Decision] = []
    last_t = 0.0
    ended = False
    for event in events:
        if isinstance(event, GUARD_EVENTS):
            continue
        _advance(guard, event.t, out)
        last_t = max(last_t, event.t)
        for item in guard.feed(event) or ():
            out.append(Decision(_time_of(item, event.t), item))
        if isinstance(event, SessionEnded):
            ended = True
            break
    if not ended:
        # deadlines due by the end of the recording still count; later ones never came
        _advance(guard, last_t, out)
    return out


def _advance(guard: Any, now: float, out: list[Decision]) -> None:
    for _ in range(MAX_TICKS_PER_GAP):
        deadline = guard.next_deadline()
        if deadline is None or deadline > now:
            return
        items = guard.tick(deadline) or ()
        for item in items:
            out.append(Decision(_time_of(item, deadline), item))
        if guard.next_deadline() == deadline and not items:
            return  # a deadline that does not move would loop forever


def _time_of(item: Any, default: float) -> float:
    return item.t if isinstance(item, Event) else default


def recorded_decisions(events: Iterable[Event]) -> list[Decision]:
    return [Decision(e.t, e) for e in events if isinstance(e, GUARD_EVENTS)]


def compare(recorded: list[Decision], replayed: list[Decision]) -> list[str]:
    """Line-by-line comparison of recorded vs replayed guard events (actions are not logged)."""
    rep_events = [d for d in replayed if isinstance(d.item, Event)]
    a = [d.signature() for d in recorded]
    b = [d.signature() for d in rep_events]
    lines: list[str] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                dt = rep_events[j].t - recorded[i].t
                lines.append(f"  same      T+{recorded[i].t:9.3f}  ({dt:+.3f} s)  {a[i]}")
            continue
        for i in range(i1, i2):
            lines.append(f"  recorded  T+{recorded[i].t:9.3f}  {a[i]}  (not in replay)")
        for j in range(j1, j2):
            lines.append(f"  replay    T+{rep_events[j].t:9.3f}  {b[j]}  (not recorded)")
    return lines


# --------------------------------------------------------------------------- settings


def load_policy(config: str | None, overrides: Iterable[str]) -> Any:
    """GuardPolicy from a settings file (its `guard:` section) and `--set guard.x=y` overrides."""
    from liveguard.guard.policy import GuardPolicy

    if config:
        from liveguard.config.settings import Settings

        policy = Settings.from_file(config).guard
    else:
        policy = GuardPolicy()
    data = policy.model_dump()
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected guard.NAME=VALUE")
        if key.startswith("guard."):
            key = key[len("guard.") :]
        if "." in key or key not in GuardPolicy.model_fields:
            raise ValueError(f"--set {item!r}: no guard setting {key!r}")
        try:
            data[key] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ValueError(f"--set {item!r}: bad value: {exc}") from None
    try:
        return GuardPolicy(**data)
    except Exception as exc:  # pydantic.ValidationError, with the field named
        raise ValueError(f"invalid guard settings: {exc}") from None


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "log", help="a session log (JSONL); a file with several sessions needs --session"
    )
    parser.add_argument("--config", help="settings file whose guard section to use")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="guard.NAME=VALUE",
        help="override one guard setting (repeatable), e.g. guard.answer_deadline_s=2",
    )
    parser.add_argument("--session", help="which session, when the file holds several")
    parser.add_argument(
        "--no-compare", action="store_true", help="only print the replayed decisions"
    )


def run(args: argparse.Namespace) -> int:
    from liveguard.report.reader import ReadStats, read_log

    try:
        policy = load_policy(args.config, args.overrides)
    except ValueError as exc:
        print(f"liveguard replay: {exc}", file=sys.stderr)
        return 2
    stats = ReadStats()
    try:
        sessions = read_log(args.log, stats)
    except FileNotFoundError:
        print(f"liveguard replay: no such file: {args.log}", file=sys.stderr)
        return 2
    if stats.unreadable_files:
        print(f"liveguard replay: cannot read {args.log}: {stats.examples[-1]}", file=sys.stderr)
        return 2
    if args.session:
        sessions = [s for s in sessions if s.session == args.session]
    if not sessions:
        print("liveguard replay: no session found in the log", file=sys.stderr)
        return 1
    if len(sessions) > 1:
        names = ", ".join(s.session for s in sessions[:5])
        print(
            f"liveguard replay: {len(sessions)} sessions in the file ({names}...); "
            "pick one with --session",
            file=sys.stderr,
        )
        return 2
    session = sessions[0]
    if stats.bad_lines:
        print(f"liveguard replay: {stats.describe()}", file=sys.stderr)
    decisions = replay_events(session.events, policy)
    print(
        f"# replay of session {session.session}: {len(session.events)} events, "
        f"{len(decisions)} decision(s)"
    )
    for d in decisions:
        print(d.line())
    if not args.no_compare:
        recorded = recorded_decisions(session.events)
        print(f"# compared with the recording: {len(recorded)} recorded guard event(s)")
        for line in compare(recorded, decisions):
            print(line)
    return 0
