"""Diagnose today's silences (issue 13): the report, timeline, bug report and replay know inaudible
answers (with their level evidence, laid out as gemini-live-api-examples#40 did), background phases,
interactionStatus and the new verdicts; a coalesced log replays like the raw events."""

from __future__ import annotations

from liveguard import events as ev
from liveguard.guard import Guard
from liveguard.report.bugreport import render_bug_report
from liveguard.report.reader import read_log
from liveguard.report.replay import replay_events
from liveguard.report.summary import Aggregate, summarize
from liveguard.report.timeline import render_timeline
from liveguard.telemetry import SessionLog

WALL0 = 1_761_991_200.0


def chunks(t: float, n: int, level: float, turn: int, before: int) -> list[ev.Event]:
    """`n` chunks stamped with the session's running count, as the translator stamps them."""
    return [
        ev.ModelAudio(
            t=t + 0.04 * i, bytes=1920, gemini_audio_chunks=before + i + 1, turn=turn, level=level
        )
        for i in range(n)
    ]


def inaudible_then_extended_thinking() -> list[ev.Event]:
    """A call on Vertex 2.5 style audio: one healthy answer, one inaudible one (mean |x| 18), then
    an extended-thinking request with a 12 s background phase."""
    out: list[ev.Event] = [
        ev.SessionStarted(t=0.0, session_id="quiet", model="gemini-live-2.5-flash-native-audio"),
        ev.UpstreamConnecting(t=0.0, attempt=1),
        ev.UpstreamConnected(t=0.3, attempt=1),
        *chunks(0.5, 25, 4100.0, 1, 0),
        ev.OutputTranscript(t=0.6, text="Hello, how can I help?"),
        ev.TurnComplete(t=1.6, turn=1, turn_audio_chunks=25, interaction_status="IDLE"),
        ev.CallerSpeechStarted(t=5.0),
        ev.InputTranscript(t=5.5, text="where is my order"),
        ev.CallerSpeechEnded(t=6.4, duration_s=1.4),
        *chunks(7.0, 50, 18.0, 2, 25),
        ev.OutputTranscript(t=7.1, text="It ships tomorrow."),
        ev.TurnComplete(t=9.1, turn=2, turn_audio_chunks=50, interaction_status="IDLE"),
        ev.CallerSpeechStarted(t=20.0),
        ev.InputTranscript(t=20.5, text="book a table for two"),
        ev.CallerSpeechEnded(t=21.4, duration_s=1.4),
        *chunks(22.0, 20, 3500.0, 3, 75),
        ev.OutputTranscript(t=22.1, text="Let me check."),
        ev.TurnComplete(t=23.0, turn=3, turn_audio_chunks=20, interaction_status="IN_PROGRESS"),
        *chunks(35.0, 40, 5200.0, 4, 95),
        ev.OutputTranscript(t=35.1, text="You have a table at eight."),
        ev.TurnComplete(t=36.8, turn=4, turn_audio_chunks=40, interaction_status="IDLE"),
        ev.SessionEnded(t=40.0, reason="hung up"),
    ]
    return out


def recorded(events: list[ev.Event]) -> list[ev.Event]:
    """What a live session on this guard would have logged: the events and the guard's own."""
    guard = Guard()
    mine: list[ev.Event] = []
    for d in replay_events(events):
        if isinstance(d.item, ev.Event):
            mine.append(d.item)
    del guard
    return sorted([*events, *mine], key=lambda e: e.t)


def write(tmp_path, events) -> list[ev.Event]:
    log = SessionLog(tmp_path, "quiet", wall0=WALL0)
    for e in events:
        log(e)
    log.close()
    [session] = read_log(log.path)
    return session.events


def test_the_summary_counts_inaudible_answers_and_background_work(tmp_path):
    events = write(tmp_path, recorded(inaudible_then_extended_thinking()))
    s = summarize("quiet", events, path="x")
    assert (s.caller_turns, s.answered_turns, s.unanswered_turns) == (2, 1, 1)
    assert (s.inaudible_answers, s.background_phases, s.background_stalls) == (1, 1, 0)
    assert s.max_background_s == 13.8  # IN_PROGRESS at 23.0 to IDLE at 36.8
    # the caller's wait counts until audible audio: the nudge's answer, not the quiet chunks
    assert s.max_silence_s > 3.0
    agg = Aggregate(window_s=3600)
    agg.add(s)
    text = agg.text()
    assert "Inaudible answers: 1; freezes after a barge-in: 0; background work: 1 phase(s)" in text


def test_the_bug_report_lays_out_the_inaudible_answer_with_its_level(tmp_path):
    events = write(tmp_path, recorded(inaudible_then_extended_thinking()))
    s = summarize("quiet", events, path="x")
    md = render_bug_report(events, s)
    assert md.startswith("# Live API: model audio arrives at near-zero amplitude (inaudible)")
    assert "| when | chunks | audio | mean \\|x\\| | max \\|x\\| |" in md
    row = next(line for line in md.splitlines() if line.startswith("| T+"))
    assert "| 50 | 2.0 s | 18.0 | 18.0 |" in row and '"It ships tomorrow."' in row
    assert "audible model audio of this session" in md and "mean |x| 4" in md
    assert "level mean |x|=18: INAUDIBLE" in md
    assert "rule=inaudible_answer: 50 chunk(s) at mean |x|=18.0" in md
    assert "interaction_status=IN_PROGRESS" in md and "background work" in md
    assert "near zero while output_transcription says it spoke" in md


def test_the_timeline_draws_inaudible_audio_and_background_work(tmp_path):
    events = write(tmp_path, recorded(inaudible_then_extended_thinking()))
    svg = render_timeline(events)
    assert "INAUDIBLE model audio turn=2" in svg and "level=18" in svg
    assert "background work (interactionStatus IN_PROGRESS)" in svg
    assert "interaction_status=IN_PROGRESS" in svg
    assert "verdict unanswered_turn" in svg


def test_replay_of_a_coalesced_log_decides_like_the_raw_events(tmp_path):
    raw = inaudible_then_extended_thinking()
    logged = write(tmp_path, raw)
    assert sum(1 for e in logged if isinstance(e, ev.ModelAudio)) < 20  # coalesced
    a = [d.line() for d in replay_events(raw)]
    b = [d.line() for d in replay_events(logged)]
    assert any("inaudible_answer" in line for line in a)
    assert any("background start" in line for line in a)
    assert a == b
