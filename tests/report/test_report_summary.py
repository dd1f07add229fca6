"""Report numbers on known sessions, per-window paragraphs, and the `liveguard report` command."""

from __future__ import annotations

from pathlib import Path

import pytest
from incident import guarded_recovery_events, incident_events

from liveguard.cli import main
from liveguard.report.summary import Aggregate, parse_window, summarize
from liveguard.telemetry import SessionLog

HOUR = 1_761_991_200.0  # 2025-11-01T10:00:00Z


def write(tmp: Path, events, wall0: float) -> Path:
    log = SessionLog(tmp, events[0].session_id, wall0=wall0)
    for e in events:
        log(e)
    log.close()
    return log.path


def test_the_incident_unguarded_gets_its_verdicts_from_replaying_the_guard():
    s = summarize("incident", incident_events(), start_wall=HOUR)
    assert s.derived
    assert (s.phantom_interrupts, s.phantom_signature, s.phantom_wedged) == (1, 1, 0 + 1)
    assert s.caller_turns == 3 and s.answered_turns == 0 and s.unanswered_turns == 3
    assert s.outcome == "wedged"
    # waits: T+13 -> next speech at T+18.5, T+20 -> T+34.5, T+36 -> end at T+50
    assert s.silence_s == pytest.approx(5.5 + 14.5 + 14.0)
    assert s.max_silence_s == pytest.approx(14.5)
    assert (s.input_tokens, s.output_tokens, s.gemini_audio_chunks) == (6263, 0, 11)


def test_without_derivation_only_the_signature_is_counted():
    s = summarize("incident", incident_events(), derive="never")
    assert not s.derived and s.phantom_interrupts == 0 and s.phantom_signature == 1


def test_a_guarded_recovery_is_counted_as_recovered():
    s = summarize("g", guarded_recovery_events(), start_wall=HOUR)
    assert not s.derived
    assert (s.phantom_interrupts, s.phantom_recovered, s.phantom_wedged) == (1, 1, 0)
    assert (s.wedges, s.wedges_recovered, s.unanswered_turns, s.answered_turns) == (1, 1, 1, 2)
    assert s.outcome == "recovered"
    assert s.recoveries == {("nudge", "answered"): 1}
    assert s.closes == {(1011, "server"): 1}
    assert s.latencies == [2.5, 1.0]
    assert s.caller_turns == 2 and s.max_silence_s == pytest.approx(2.5) and s.silence_s == 0


def test_windows_add_up_like_the_incidents_frequency_paragraph():
    agg = Aggregate(window_s=6 * 3600)
    for i in range(3):
        agg.add(summarize(f"g{i}", guarded_recovery_events(f"g{i}"), start_wall=HOUR + i * 60))
    agg.add(summarize("w", incident_events("w"), start_wall=HOUR + 3600))
    agg.add(summarize("next-day", guarded_recovery_events("n"), start_wall=HOUR + 86400))
    first, second = agg.ordered()
    assert (first.sessions, first.phantom_interrupts) == (4, 4)
    assert (first.phantom_recovered, first.phantom_wedged) == (3, 1)
    text = first.paragraph()
    assert text.startswith("2025-11-01 06:00–12:00 UTC: 4 session(s)")
    assert 'Phantom interrupts: 4 (4 interrupt(s) with last_user_tx="" and ' in text
    assert "3 recovered, 1 wedged." in text
    assert "nudge 3 (answered 3)" in text and "1011 ×3 (server 3)" in text
    assert "All windows: 5 session(s)" in agg.text()
    assert second.sessions == 1


def test_parse_window():
    assert parse_window("6h") == 21600 and parse_window("30m") == 1800 and parse_window("90") == 90
    for bad in ("", "h", "-1h", "soon"):
        with pytest.raises(ValueError, match="bad window"):
            parse_window(bad)


def test_report_command_prints_windows_and_writes_html_and_bug_report(tmp_path, capsys):
    logs = tmp_path / "logs"
    write(logs, incident_events("wedged-call"), HOUR + 10)
    write(logs, guarded_recovery_events("ok-call"), HOUR + 20)
    with open(logs / "broken.jsonl", "w") as fh:
        fh.write('{"t": 0, "event": "session_start", "session_id": "b"}\n{"t": 1, "ev')
    html, bug = tmp_path / "r.html", tmp_path / "bug.md"
    rc = main(
        [
            "report",
            str(logs),
            "--html",
            str(html),
            "--bug-report",
            str(bug),
            "--window",
            "1h",
            "--jobs",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "2025-11-01 10:00–11:00 UTC: 2 session(s), 5 caller turn(s), 2 answered, 4 unan" in out
    assert "sessions without a wall-clock time: 1 session(s)" in out
    assert "Phantom interrupts: 2" in out and "1 recovered, 1 wedged" in out
    assert "1 bad line(s) (1 truncated)" in out
    md = bug.read_text()
    assert "Evidence from one session" in md and "session `wedged-call`" in md.lower()
    assert 'T+0.0s server_content.interrupted=True with last_user_tx="" and ' in md
    assert "last_user_tx_age_ms=-1" in md and "input=6263, output=0" in md
    page = html.read_text()
    assert "<svg" in page and "wedged-call" in page and "Upstream bug report" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_report_command_errors_are_clear(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--window", "often"]) == 2
    assert "bad window" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--session", "nobody"]) == 2
