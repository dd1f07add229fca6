"""The log reader: tolerant of bad lines (counted, never fatal), other relays' minimal format,
and fuzzed input; event_from_record never raises anything but EventParseError."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveguard import events as ev
from liveguard.events import EVENT_TYPES, EventParseError, event_from_record
from liveguard.report.reader import ReadStats, iter_log_files, iter_sessions, read_log

GOOD = [
    {
        "t": 0.0,
        "ts": "2025-11-01T10:00:00.000Z",
        "session": "a",
        "event": "session_start",
        "session_id": "a",
    },
    {
        "t": 1.0,
        "ts": "2025-11-01T10:00:01.000Z",
        "session": "a",
        "event": "turn_complete",
        "turn": 1,
        "gemini_audio_chunks": 11,
    },
]


def write_lines(path, lines):
    path.write_bytes("".join(lines).encode())


def test_bad_and_truncated_lines_are_counted_by_reason(tmp_path):
    path = tmp_path / "x.jsonl"
    write_lines(
        path,
        [
            json.dumps(GOOD[0]) + "\n",
            "{not json\n",
            "[1, 2]\n",
            json.dumps({"t": 2, "event": "no_such_event"}) + "\n",
            json.dumps({"t": 3, "event": "turn_complete", "turn": "three"}) + "\n",
            json.dumps({"event": "turn_complete", "turn": 2}) + "\n",
            "\n",
            json.dumps(GOOD[1]) + "\n",
            '{"t": 4.0, "event": "turn_comp',  # the writer died mid-line
        ],
    )
    stats = ReadStats()
    [session] = read_log(path, stats)
    assert [e.name for e in session.events] == ["session_start", "turn_complete"]
    assert stats.events == 2 and stats.bad_lines == 6 and stats.lines == 8
    assert stats.reasons == {
        "invalid_json": 1,
        "not_object": 1,
        "unknown_event": 1,
        "bad_field": 1,
        "missing_time": 1,
        "truncated": 1,
    }
    assert "x.jsonl:9: truncated" in stats.examples[-1]
    assert session.start_wall == pytest.approx(1761991200.0)
    assert "6 bad line(s)" in stats.describe()


def test_minimal_format_with_ts_only_and_several_sessions_in_one_file(tmp_path):
    path = tmp_path / "other-relay.log"
    write_lines(
        path,
        [
            json.dumps({"ts": 1761991200.5, "session": "p", "event": "interrupted"}) + "\n",
            json.dumps(
                {"ts": 1761991201000, "session": "q", "event": "input_transcript", "text": "hi"}
            )
            + "\n",  # epoch milliseconds
            json.dumps(
                {"ts": "2025-11-01T10:00:03.5", "session": "p", "event": "turn_complete", "turn": 2}
            )
            + "\n",  # naive ISO = UTC
        ],
    )
    p, q = read_log(path)
    assert (p.session, [e.t for e in p.events]) == ("p", [0.0, 3.0])
    assert p.start_wall == 1761991200.5
    assert isinstance(p.events[0], ev.Interrupted) and p.events[0].last_user_tx_age_ms == -1
    assert (q.session, q.events[0].text) == ("q", "hi")


def test_folders_are_read_recursively_including_gzip_and_missing_paths_fail_early(tmp_path):
    (tmp_path / "day1").mkdir()
    (tmp_path / "day1" / "a.jsonl").write_text(json.dumps(GOOD[0]) + "\n")
    with gzip.open(tmp_path / "day1" / "b.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({**GOOD[1], "session": "b"}) + "\n")
    (tmp_path / "notes.txt").write_text("not a log")
    assert [p.name for p in iter_log_files([tmp_path])] == ["a.jsonl", "b.jsonl.gz"]
    stats = ReadStats()
    assert [s.session for s in iter_sessions([tmp_path], stats)] == ["a", "b"]
    assert stats.files == 2 and stats.bad_lines == 0
    with pytest.raises(FileNotFoundError, match="nope"):
        list(iter_log_files([tmp_path / "nope"]))


def test_a_corrupt_gzip_is_counted_as_unreadable(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(b"\x1f\x8b garbage")
    stats = ReadStats()
    assert read_log(path, stats) == []
    assert stats.unreadable_files == 1 and stats.reasons["unreadable"] == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
field_names = st.sampled_from(
    sorted(
        {f for cls in EVENT_TYPES.values() for f in cls.__dataclass_fields__} | {"ts", "session"}
    )
)
records = st.fixed_dictionaries(
    {"event": st.sampled_from(sorted(EVENT_TYPES)) | st.text(max_size=5)},
    optional={"t": json_values | st.floats(-1e6, 1e6)},
).flatmap(
    lambda base: st.dictionaries(field_names, json_values, max_size=5).map(
        lambda extra: {**extra, **base}
    )
)


@settings(max_examples=200, deadline=None)
@given(records)
def test_event_from_record_returns_an_event_or_raises_event_parse_error(record):
    try:
        event = event_from_record(record)
    except EventParseError:
        return
    assert isinstance(event, ev.Event)
    # a parsed event serialises and parses back to the same record (t is rounded to 1 µs)
    again = event_from_record(json.loads(json.dumps(event.to_record())))
    assert type(again) is type(event) and again.to_record() == event.to_record()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            records.map(json.dumps), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))
        ),
        max_size=12,
    ),
    st.booleans(),
)
def test_reader_never_raises_and_counts_every_line(tmp_path, lines, cut_last):
    text = "".join(line.replace("\n", " ") + "\n" for line in lines)
    if cut_last and text:
        text = text[:-1]
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    stats = ReadStats()
    sessions = read_log(path, stats)
    raw = text.encode("utf-8", "surrogatepass")
    nonblank = sum(1 for line in raw.split(b"\n") if line.strip(b" \t\r\n"))
    assert stats.events + stats.bad_lines == nonblank
    assert sum(len(s.events) for s in sessions) == stats.events
