"""`liveguard replay`: deterministic, tunable with --set, compared with what was recorded."""

from __future__ import annotations

from incident import incident_events

from liveguard import events as ev
from liveguard.cli import main
from liveguard.report.replay import load_policy, recorded_decisions, replay_events
from liveguard.telemetry import SessionLog

WALL0 = 1_761_991_200.0


def log_of(tmp_path, events, name="s"):
    log = SessionLog(tmp_path, name, wall0=WALL0)
    for e in events:
        log(e)
    log.close()
    return log.path


def slow_answer_events() -> list[ev.Event]:
    """A healthy call whose second answer takes 2.6 s: fine at 3 s, unanswered at 2 s."""
    return [
        ev.SessionStarted(t=0.0, session_id="slow"),
        ev.UpstreamConnecting(t=0.0, attempt=1),
        ev.UpstreamConnected(t=0.2, attempt=1),
        ev.ModelAudio(t=1.0, bytes=48000, gemini_audio_chunks=1, turn=1),
        ev.TurnComplete(t=2.0, turn=1, gemini_audio_chunks=1, turn_audio_chunks=1),
        ev.CallerSpeechStarted(t=5.0),
        ev.InputTranscript(t=5.5, text="what time do you open"),
        ev.CallerSpeechEnded(t=6.4, duration_s=1.4),
        ev.ModelAudio(t=9.0, bytes=48000, gemini_audio_chunks=2, turn=2),
        ev.TurnComplete(t=10.0, turn=2, gemini_audio_chunks=2, turn_audio_chunks=1),
        ev.SessionEnded(t=12.0, reason="hung up", gemini_audio_chunks=2),
    ]


def test_replay_is_deterministic_and_matches_a_recording_of_the_same_guard(tmp_path, capsys):
    events = incident_events()
    decisions = replay_events(events)
    # a "recording": what a live session on this guard would have logged
    recorded = sorted(
        events + [d.item for d in decisions if isinstance(d.item, ev.Event)], key=lambda e: e.t
    )
    path = log_of(tmp_path, recorded)
    outs = []
    for _ in range(2):
        assert main(["replay", str(path)]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    out = outs[0]
    assert "verdict phantom_interrupt turn=2" in out and "action Reconnect" in out
    compared = out.split("# compared with the recording", 1)[1].splitlines()[1:]
    assert compared and all(line.startswith("  same ") for line in compared)
    assert len(compared) == len(recorded_decisions(recorded))


def test_set_changes_the_decisions(tmp_path, capsys):
    path = log_of(tmp_path, slow_answer_events())
    assert main(["replay", str(path), "--no-compare"]) == 0
    default = capsys.readouterr().out
    assert "turn_answered turn=2" in default and "unanswered_turn" not in default
    assert main(["replay", str(path), "--no-compare", "--set", "guard.answer_deadline_s=2"]) == 0
    tight = capsys.readouterr().out
    assert "T+    8.400  verdict unanswered_turn turn=2" in tight


def test_config_file_and_bad_settings_give_clear_errors(tmp_path, capsys):
    cfg = tmp_path / "settings.yaml"
    cfg.write_text("guard:\n  answer_deadline_s: 2.0\n")
    assert load_policy(str(cfg), []).answer_deadline_s == 2.0
    assert load_policy(str(cfg), ["answer_deadline_s=4"]).answer_deadline_s == 4.0
    path = log_of(tmp_path, slow_answer_events())
    assert main(["replay", str(path), "--set", "guard.no_such=1"]) == 2
    assert "no guard setting 'no_such'" in capsys.readouterr().err
    assert main(["replay", str(path), "--set", "guard.answer_deadline_s=-1"]) == 2
    assert "invalid guard settings" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "nope.jsonl")]) == 2
