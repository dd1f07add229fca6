"""`liveguard convert DUMP -o LOG`: google-genai `LiveServerMessage` dumps to a liveguard log.

For teams whose own relay logged what the SDK received. Accepted input, JSONL, one message a line:

    {"ts": 1761990000.123, "message": <msg.model_dump(mode="json", exclude_none=True)>}
    {"ts": "2026-11-01T10:00:00.123Z", "message": <the raw wire JSON, camelCase>}

`ts` is the time the message was received (epoch seconds or ms, or ISO 8601; naive means UTC).
Lines may also carry liveguard records (`{"ts": ..., "event": "caller_speech_end", ...}`) for what
the SDK cannot see (the caller's speech, upstream closes); they pass through unchanged. The
messages are translated by the same `MessageTranslator` the live session uses, so the turn
counters and the incident's fields (`turn`, `gemini_audio_chunks`, `turn_audio_chunks`,
`last_user_tx`, `last_user_tx_age_ms`) come out exactly as a liveguard relay would log them.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liveguard.events import (
    Event,
    EventParseError,
    SessionEnded,
    SessionStarted,
    event_from_record,
)
from liveguard.report.reader import parse_ts
from liveguard.telemetry.jsonl import SessionLog


@dataclass
class ConvertStats:
    lines: int = 0
    messages: int = 0
    events: int = 0
    bad_lines: int = 0
    examples: list[str] = field(default_factory=list)

    def bad(self, lineno: int, reason: str) -> None:
        self.bad_lines += 1
        if len(self.examples) < 10:
            self.examples.append(f"line {lineno}: {reason[:160]}")


def _message(raw: Any) -> Any:
    """A LiveServerMessage from snake_case (model_dump) or camelCase (wire) JSON."""
    from google.genai import types

    if not isinstance(raw, dict):
        raise ValueError("'message' is not a JSON object")
    return types.LiveServerMessage.model_validate(raw)


def convert_lines(
    lines: list[bytes] | Any,
    *,
    session_id: str,
    model: str = "",
    sdk_version: str = "",
) -> tuple[list[Event], float | None, ConvertStats]:
    """Events (t relative to the first line's ts), the wall clock of t=0, and stats."""
    from liveguard.session.translate import MessageTranslator

    translator = MessageTranslator()
    stats = ConvertStats()
    events: list[Event] = []
    wall0: float | None = None
    for lineno, raw in enumerate(lines, 1):
        stats.lines += 1
        if not raw.strip():
            continue
        parsed = _parse_line(raw, lineno, stats)
        if parsed is None:
            continue
        record, ts = parsed
        if wall0 is None:
            wall0 = ts
            events.append(
                SessionStarted(t=0.0, session_id=session_id, model=model, sdk_version=sdk_version)
            )
        events.extend(_line_events(record, max(0.0, ts - wall0), translator, lineno, stats))
    if events and not any(isinstance(e, SessionEnded) for e in events):
        events.append(
            SessionEnded(
                t=events[-1].t,
                reason="end of dump",
                input_tokens=translator.input_tokens,
                output_tokens=translator.output_tokens,
                gemini_audio_chunks=translator.gemini_audio_chunks,
            )
        )
    events.sort(key=lambda e: e.t)
    stats.events = len(events)
    return events, wall0, stats


def _parse_line(raw: bytes, lineno: int, stats: ConvertStats) -> tuple[dict, float] | None:
    """One dump line as (record, wall-clock ts); None, counted as bad, when it is not one."""
    try:
        record = json.loads(raw)
    except ValueError as exc:
        stats.bad(lineno, f"invalid JSON: {exc}")
        return None
    if not isinstance(record, dict):
        stats.bad(lineno, "not a JSON object")
        return None
    ts = parse_ts(record.get("ts"))
    if ts is None:
        stats.bad(lineno, "missing or bad 'ts'")
        return None
    return record, ts


def _line_events(
    record: dict, t: float, translator: Any, lineno: int, stats: ConvertStats
) -> list[Event]:
    """The events of one record: a translated LiveServerMessage, or a liveguard record as is."""
    from pydantic import ValidationError

    if "message" in record:
        try:
            msg = _message(record["message"])
        except (ValueError, ValidationError) as exc:
            stats.bad(lineno, f"not a LiveServerMessage: {exc}")
            return []
        stats.messages += 1
        return list(translator.translate(msg, t).events)
    if "event" in record:
        try:
            return [event_from_record({**record, "t": t})]
        except EventParseError as exc:
            stats.bad(lineno, str(exc))
            return []
    stats.bad(lineno, "neither 'message' nor 'event'")
    return []


def convert_file(
    dump: str | Path,
    out: str | Path,
    *,
    session_id: str | None = None,
    model: str = "",
    sdk_version: str = "",
    redact_transcripts: bool = False,
) -> tuple[Path, ConvertStats]:
    """Convert one dump; `out` is a file, or a folder for the usual `<ts>-<session>.jsonl`."""
    dump = Path(dump)
    session_id = session_id or dump.name.split(".", 1)[0]
    with open(dump, "rb") as fh:
        events, wall0, stats = convert_lines(
            fh, session_id=session_id, model=model, sdk_version=sdk_version
        )
    out = Path(out)
    folder = out if out.is_dir() else out.parent
    log = SessionLog(
        folder,
        session_id,
        wall0=wall0 or 0.0,
        redact_transcripts=redact_transcripts,
        coalesce_audio_s=1.0,
    )
    if not out.is_dir():
        log.path = out
        if out.exists():
            out.unlink()  # a conversion replaces its output
    for e in events:
        log(e)
    log.close()
    return log.path, stats


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dump", help="JSONL of {ts, message} LiveServerMessage dumps")
    parser.add_argument("-o", "--output", required=True, help="output log file (or folder)")
    parser.add_argument("--session", help="session id (default: the dump's file name)")
    parser.add_argument("--model", default="", help="model name, for reports")
    parser.add_argument("--sdk-version", default="", help="google-genai version that recorded it")
    parser.add_argument("--redact-transcripts", action="store_true", help="redact transcripts")


def run(args: argparse.Namespace) -> int:
    try:
        path, stats = convert_file(
            args.dump,
            args.output,
            session_id=args.session,
            model=args.model,
            sdk_version=args.sdk_version,
            redact_transcripts=args.redact_transcripts,
        )
    except OSError as exc:
        print(f"liveguard convert: {exc}", file=sys.stderr)
        return 2
    print(
        f"{path}: {stats.events} events from {stats.messages} messages "
        f"({stats.lines} lines, {stats.bad_lines} bad)"
    )
    for example in stats.examples:
        print(f"  bad line: {example}", file=sys.stderr)
    return 0 if stats.messages or stats.events else 1
