"""Telemetry of today's silences: answer latency from the first audible audio, a counter per kind
of silence, and coalesced audio runs that never mix audible and inaudible chunks."""

from __future__ import annotations

import json

from test_telemetry_metrics import samples

from liveguard import events as ev
from liveguard.guard import Guard
from liveguard.telemetry import MetricsRecorder, SessionLog

WALL0 = 1_761_991_200.0


def test_answer_latency_runs_to_the_first_audible_chunk():
    guard = Guard()
    rec = MetricsRecorder()
    events = [
        ev.UpstreamConnecting(t=0.0, attempt=1),
        ev.UpstreamConnected(t=0.2, attempt=1),
        ev.CallerSpeechStarted(t=1.0),
        ev.CallerSpeechEnded(t=2.0, duration_s=1.0),
        *[
            ev.ModelAudio(t=2.1 + 0.04 * i, bytes=1920, gemini_audio_chunks=0, level=5.0)
            for i in range(10)
        ],
        ev.ModelAudio(t=3.3, bytes=1920, gemini_audio_chunks=0, level=3000.0),
    ]
    for e in events:
        for out in guard.feed(e):
            rec.observe(out)
    s = samples(rec)
    assert s[("liveguard_answer_latency_seconds_count", ())] == 1
    assert s[("liveguard_answer_latency_seconds_sum", ())] == 1.3  # 3.3 - 2.0, not 0.1


def test_silences_are_counted_by_kind():
    rec = MetricsRecorder()
    for e in [
        ev.Verdict(t=1, kind="unanswered_turn", evidence={"rule": "inaudible_answer"}),
        ev.Verdict(t=2, kind="unanswered_turn", evidence={"rule": "barge_in_freeze"}),
        ev.Verdict(t=3, kind="unanswered_turn", evidence={"rule": "empty_turn"}),
        ev.Verdict(t=4, kind="background_stall"),
        ev.Verdict(t=5, kind="cut_answer"),
        ev.Verdict(t=6, kind="setup_timeout"),
    ]:
        rec.observe(e)
    s = samples(rec)
    for kind in (
        "inaudible_answer",
        "barge_in_freeze",
        "background_stall",
        "cut_answer",
        "setup_timeout",
    ):
        assert s[("liveguard_silences_total", (("kind", kind),))] == 1, kind
    assert s[("liveguard_turns_total", (("outcome", "unanswered"),))] == 3
    assert ("liveguard_silences_total", (("kind", "empty_turn"),)) not in s


def test_coalesced_runs_keep_audible_and_inaudible_apart(tmp_path):
    log = SessionLog(tmp_path, "s", wall0=WALL0)
    levels = [3000.0] * 5 + [10.0] * 5 + [2500.0] * 5
    for i, level in enumerate(levels):
        log(ev.ModelAudio(t=1.0 + 0.04 * i, bytes=1920, gemini_audio_chunks=i + 1, level=level))
    log(ev.TurnComplete(t=2.0, turn=1))
    log.close()
    audio = [json.loads(x) for x in log.path.read_text().splitlines()]
    audio = [r for r in audio if r["event"] == "model_audio"]
    # the first chunk alone, then one run per level class, in order
    assert [(r.get("chunks", 1), r["level"]) for r in audio] == [
        (1, 3000.0),
        (4, 3000.0),
        (5, 10.0),
        (5, 2500.0),
    ]
    assert audio[2]["t"] == 1.2  # the first inaudible chunk keeps its own time
    assert audio[3]["t"] == 1.4  # and so does the first audible one after it
