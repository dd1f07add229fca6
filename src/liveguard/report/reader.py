"""Read session logs back into typed events, tolerating anything a real log directory holds.

Bad lines (invalid JSON, a line cut short by a crash, unknown events, mistyped fields) are counted
by reason with a few examples, never fatal. Reading is one file at a time (`iter_sessions`), so a
report over 10,000 sessions holds one session's events at a time.

Accepted input, per line: `{"event": NAME, "t": seconds, "ts": wall clock, "session": ID, ...}`.
`t` may be omitted when `ts` is given (then `t` is seconds since the session's first record);
`session` may be omitted (then the file name is the session). One file may hold many sessions.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from liveguard.events import EVENT_TYPES, Event, EventParseError, event_from_record

LOG_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".log")
MAX_EXAMPLES = 20
MAX_LINE_BYTES = 1 << 20  # a longer line is not an event record


def parse_ts(value: Any) -> float | None:
    """Wall-clock seconds from an epoch number (s or ms) or an ISO 8601 string; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            v = float(value)
        except OverflowError:
            return None
        if not math.isfinite(v):
            return None
        return v / 1000.0 if v > 1e11 else v  # epoch milliseconds
    if isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if dt.tzinfo is None:  # naive: documented as UTC
            dt = dt.replace(tzinfo=UTC)
        try:
            return dt.timestamp()
        except (OverflowError, OSError, ValueError):
            return None
    return None


@dataclass
class ReadStats:
    """What reading found: counts, bad lines by reason, and a few examples to look at."""

    files: int = 0
    unreadable_files: int = 0
    lines: int = 0
    events: int = 0
    bad_lines: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def bad(self, reason: str, where: str, detail: str) -> None:
        self.bad_lines += 1
        self.reasons[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}: {detail[:160]}")

    def merge(self, other: ReadStats) -> None:
        self.files += other.files
        self.unreadable_files += other.unreadable_files
        self.lines += other.lines
        self.events += other.events
        self.bad_lines += other.bad_lines
        self.reasons.update(other.reasons)
        room = MAX_EXAMPLES - len(self.examples)
        if room > 0:
            self.examples.extend(other.examples[:room])

    def describe(self) -> str:
        text = (
            f"read {self.files} file(s), {self.lines} line(s), {self.events} event(s); "
            f"{self.bad_lines} bad line(s)"
        )
        if self.reasons:
            text += " (" + ", ".join(f"{n} {r}" for r, n in self.reasons.most_common()) + ")"
        if self.unreadable_files:
            text += f"; {self.unreadable_files} unreadable file(s)"
        return text


@dataclass
class SessionEvents:
    """One session read from a log: its events in time order and where they came from."""

    session: str
    path: str
    events: list[Event]
    start_wall: float | None = None  # wall clock of t = 0, when the log says
    bad_lines: int = 0


def iter_log_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files given, and log files under folders given (recursively, sorted). Missing paths raise
    FileNotFoundError before anything is read."""
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"no such file or folder: {p}")
    for p in paths:
        if p.is_dir():
            found = (f for f in p.rglob("*") if f.is_file() and f.name.endswith(LOG_SUFFIXES))
            yield from sorted(found)
        else:
            yield p


def _open_lines(path: Path) -> Iterator[str]:
    """Text lines; bytes that are not UTF-8 become U+FFFD (the line may still be a good record).

    Text mode also spares json.loads its per-line encoding detection (the report's hot loop)."""
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n") as fh:
            yield from fh
    else:
        with open(path, encoding="utf-8", errors="replace", newline="\n") as fh:
            yield from fh


def read_log(path: str | Path, stats: ReadStats | None = None) -> list[SessionEvents]:
    """All sessions in one log file. Problems are counted in `stats`, never raised."""
    path = Path(path)
    stats = stats if stats is not None else ReadStats()
    stats.files += 1
    by_session: dict[str, SessionEvents] = {}  # in order of first appearance
    first_ts: dict[str, float] = {}
    default_session = path.name.split(".", 1)[0]
    where = str(path)
    lineno = 0
    try:
        for raw in _open_lines(path):
            lineno += 1
            stats.lines += 1
            record = _parse_record(raw, where, lineno, stats)
            if record is None:
                continue
            session = record.get("session")
            if not isinstance(session, str) or not session:
                session = default_session
            if "t" not in record and not _set_t(record, first_ts, session, where, lineno, stats):
                continue
            event = _parse_event(record, where, lineno, stats)
            if event is None:
                continue
            se = by_session.get(session)
            if se is None:
                se = by_session[session] = SessionEvents(session, str(path), [])
                ts = parse_ts(record.get("ts"))
                if ts is not None:
                    se.start_wall = ts - event.t
            se.events.append(event)
            stats.events += 1
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        stats.unreadable_files += 1
        stats.bad("unreadable", f"{where}:{lineno}", str(exc))
    for se in by_session.values():
        se.events.sort(key=_t)  # stable; own logs are already in order
    return list(by_session.values())


def _parse_record(raw: str, where: str, lineno: int, stats: ReadStats) -> dict | None:
    """One line as a JSON object; None for a blank line (not counted) or a bad one (counted)."""
    if len(raw) > MAX_LINE_BYTES:
        stats.bad("oversized", f"{where}:{lineno}", f"{len(raw)} characters")
        return None
    if not raw.strip(" \t\r\n"):
        stats.lines -= 1  # blank lines are not records
        return None
    try:
        record = json.loads(raw)
    except ValueError as exc:
        reason = "truncated" if not raw.endswith("\n") else "invalid_json"
        stats.bad(reason, f"{where}:{lineno}", str(exc))
        return None
    if not isinstance(record, dict):
        stats.bad("not_object", f"{where}:{lineno}", type(record).__name__)
        return None
    return record


def _set_t(
    record: dict,
    first_ts: dict[str, float],
    session: str,
    where: str,
    lineno: int,
    stats: ReadStats,
) -> bool:
    """A record with a wall clock (`ts`) only gets `t` from its session's first `ts`."""
    ts = parse_ts(record.get("ts"))
    if ts is None:
        stats.bad("missing_time", f"{where}:{lineno}", "no 't' and no valid 'ts'")
        return False
    base = first_ts.setdefault(session, ts)
    record["t"] = ts - base
    return True


def _parse_event(record: dict, where: str, lineno: int, stats: ReadStats) -> Event | None:
    try:
        return event_from_record(record)
    except EventParseError as exc:
        name = record.get("event")
        known = isinstance(name, str) and name in EVENT_TYPES
        reason = "bad_field" if known else "unknown_event"
        stats.bad(reason, f"{where}:{lineno}", str(exc))
        return None


def _t(event: Event) -> float:
    return event.t


def iter_sessions(
    paths: Iterable[str | Path], stats: ReadStats | None = None
) -> Iterator[SessionEvents]:
    """Every session under `paths`, one file at a time."""
    for path in iter_log_files(paths):
        yield from read_log(path, stats)
