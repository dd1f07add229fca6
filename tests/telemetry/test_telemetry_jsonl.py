"""SessionLog: the record format, secrets, redaction, coalescing, buffering and bounds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from liveguard import events as ev
from liveguard.config.settings import Settings
from liveguard.report.reader import read_log
from liveguard.report.replay import replay_events
from liveguard.telemetry import SessionLog, open_session_log
from liveguard.telemetry.jsonl import handle_fingerprint

sys.path.insert(0, str(Path(__file__).parents[1] / "report"))
from incident import incident_events

WALL0 = 1_761_990_000.0  # 2025-11-01T09:40:00Z
KEY = "AIza" + "Sy" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"


def records(log: SessionLog) -> list[dict]:
    return [json.loads(line) for line in log.path.read_text().splitlines()]


def test_records_carry_t_ts_session_event_and_the_incidents_fields(tmp_path):
    log = SessionLog(tmp_path, "call-1", wall0=WALL0)
    for e in incident_events("call-1"):
        log(e)
    log.close()
    assert log.path.name == "20251101T094000-call-1.jsonl"
    recs = records(log)
    assert [list(r)[:4] for r in recs] == [["t", "ts", "session", "event"]] * len(recs)
    interrupted = next(r for r in recs if r["event"] == "interrupted")
    assert interrupted["ts"] == "2025-11-01T09:40:05.000Z"
    assert (interrupted["last_user_tx"], interrupted["last_user_tx_age_ms"]) == ("", -1)
    assert interrupted["skip_audio"] is False and interrupted["turn"] == 2
    tcs = [r for r in recs if r["event"] == "turn_complete"]
    assert [r["gemini_audio_chunks"] for r in tcs] == [11] * 5
    end = recs[-1]
    assert (end["event"], end["input_tokens"], end["output_tokens"]) == ("session_end", 6263, 0)


def test_api_keys_and_configured_secrets_never_reach_the_file(tmp_path):
    log = SessionLog(tmp_path, "s", wall0=WALL0, secrets=["twilio-token-123"])
    log(ev.UpstreamClosed(t=1.0, code=1007, reason=f"API key not valid: {KEY}"))
    log(ev.CallerError(t=2.0, reason="bad signature twilio-token-123"))
    log(ev.Verdict(t=3.0, kind="config_error", evidence={"url": f"wss://x/?key={KEY}"}))
    log.close()
    text = log.path.read_text()
    assert KEY not in text and "twilio-token-123" not in text
    assert text.count("[redacted]") == 3


def test_open_session_log_scrubs_the_settings_key(tmp_path):
    secret = "not-a-google-shaped-key-42"
    settings = Settings(api_key=secret, redact_transcripts=True)
    log = open_session_log(tmp_path, "s", settings=settings, wall0=WALL0)
    log(ev.OperatorAlert(t=0.5, reason=f"key {secret} rejected"))
    log(ev.InputTranscript(t=1.0, text="my card number is 4111"))
    log.close()
    text = log.path.read_text()
    assert secret not in text and "4111" not in text
    assert "[redacted len=22 sha256=" in text


def test_redaction_keeps_empty_last_user_tx_and_marks_text(tmp_path):
    log = SessionLog(tmp_path, "s", wall0=WALL0, redact_transcripts=True)
    log(ev.Interrupted(t=1.0, last_user_tx="", last_user_tx_age_ms=-1))
    log(ev.Interrupted(t=2.0, last_user_tx="hello there", last_user_tx_age_ms=300))
    log(ev.Verdict(t=3.0, kind="wedge", evidence={"last_user_tx": "hello there", "turn": 2}))
    log.close()
    a, b, c = records(log)
    assert a["last_user_tx"] == ""
    assert b["last_user_tx"].startswith("[redacted len=11 ")
    assert c["evidence"]["last_user_tx"] == b["last_user_tx"] and c["evidence"]["turn"] == 2


def test_handles_are_fingerprinted_consistently(tmp_path):
    log = SessionLog(tmp_path, "s", wall0=WALL0)
    log(ev.ResumptionUpdate(t=1.0, handle="secret-handle-abc", resumable=True, turn=1))
    log(ev.ResumptionUpdate(t=2.0, handle=None, resumable=False, turn=2))
    log.close()
    a, b = records(log)
    assert a["handle"] == handle_fingerprint("secret-handle-abc") != "secret-handle-abc"
    assert b["handle"] is None and b["resumable"] is False


def answered_session() -> list[ev.Event]:
    """A healthy two-turn call with every audio chunk as its own event (40 ms each)."""
    out: list[ev.Event] = [ev.SessionStarted(t=0.0, session_id="s")]
    n = 0
    for turn, start in ((1, 0.5), (2, 6.0)):
        if turn == 2:
            out += [ev.CallerSpeechStarted(t=4.0), ev.CallerSpeechEnded(t=5.2, duration_s=1.2)]
        for i in range(60):
            n += 1
            out.append(
                ev.ModelAudio(t=start + i * 0.02, bytes=1920, gemini_audio_chunks=n, turn=turn)
            )
        out.append(
            ev.TurnComplete(t=start + 2.5, turn=turn, gemini_audio_chunks=n, turn_audio_chunks=60)
        )
    out.append(ev.SessionEnded(t=10.0, reason="done", gemini_audio_chunks=n))
    return out


def test_model_audio_is_coalesced_with_exact_counters_and_first_chunk_times(tmp_path):
    log = SessionLog(tmp_path, "s", wall0=WALL0, coalesce_audio_s=1.0)
    for e in answered_session():
        log(e)
    log.close()
    audio = [r for r in records(log) if r["event"] == "model_audio"]
    assert len(audio) < 10  # instead of 120
    assert sum(r["bytes"] for r in audio) == 120 * 1920
    assert sum(r.get("chunks", 1) for r in audio) == 120
    assert [r["t"] for r in audio if "chunks" not in r] == [0.5, 6.0]
    assert max(r["gemini_audio_chunks"] for r in audio) == 120


def test_replay_of_a_coalesced_log_decides_like_the_raw_events(tmp_path):
    log = SessionLog(tmp_path, "s", wall0=WALL0)
    for e in answered_session():
        log(e)
    log.close()
    [session] = read_log(log.path)
    a = [d.line() for d in replay_events(answered_session())]
    b = [d.line() for d in replay_events(session.events)]
    assert any("turn_answered turn=2" in line for line in a)
    assert a == b


def test_writes_are_buffered_then_flushed_on_size_and_close(tmp_path):
    log = SessionLog(tmp_path, "s", wall0=WALL0, buffer_bytes=4096, flush_interval_s=3600)
    log(ev.SessionStarted(t=0.0, session_id="s"))
    assert not log.path.exists()  # still buffered
    for i in range(100):
        log(ev.InputTranscript(t=1.0 + i, text="x" * 50))
    assert log.path.exists()  # the buffer filled and was written
    size = log.path.stat().st_size
    log.close()
    assert log.path.stat().st_size > size
    assert len(records(log)) == 101 == log.records_written


def test_periodic_flush_by_time(tmp_path):
    now = [0.0]
    log = SessionLog(tmp_path, "s", wall0=WALL0, flush_interval_s=1.0, clock=lambda: now[0])
    log(ev.SessionStarted(t=0.0, session_id="s"))
    assert not log.path.exists()
    now[0] = 1.5
    log.maybe_flush()
    assert len(records(log)) == 1


def test_write_errors_are_counted_not_raised(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    log = SessionLog(blocker, "s", wall0=WALL0)
    log(ev.SessionStarted(t=0.0, session_id="s"))
    log.close()
    assert log.write_errors == 1 and log.dropped_bytes > 0


def test_non_events_and_events_after_close_are_ignored_and_recent_is_bounded(tmp_path):
    log = SessionLog(tmp_path, "s", wall0=WALL0, recent_events=5)
    log(object())
    for i in range(20):
        log(ev.InputTranscript(t=float(i), text="hi"))
    assert len(log.recent) == 5 and log.recent[-1].t == 19.0
    log.close()
    log(ev.InputTranscript(t=99.0, text="late"))
    log.close()
    assert len(records(log)) == 20


def test_open_session_log_scrubs_the_carriers_secrets(tmp_path):
    tokens = {
        "twilio_auth_token": "twilio-secret-0001",
        "plivo_auth_token": "plivo-secret-0002",
        "vonage_signature_secret": "vonage-secret-0003",
    }
    log = open_session_log(tmp_path, "s", settings=Settings(**tokens), wall0=WALL0)
    for i, token in enumerate(tokens.values()):
        log(ev.CallerError(t=float(i), reason=f"bad signature {token}"))
    log.close()
    text = log.path.read_text()
    assert not [t for t in tokens.values() if t in text]
    assert text.count("[redacted]") == 3


def test_open_session_log_scrubs_the_operator_token_and_the_redis_url(tmp_path):
    secrets = {"auth_token": "operator-secret-0004", "redis_url": "redis://:pw-0005@r:6379/0"}
    log = open_session_log(tmp_path, "s", settings=Settings(**secrets), wall0=WALL0)
    for i, secret in enumerate(secrets.values()):
        log(ev.CallerError(t=float(i), reason=f"somewhere {secret}"))
    log.close()
    text = log.path.read_text()
    assert not [s for s in secrets.values() if s in text]
    assert text.count("[redacted]") == 2
