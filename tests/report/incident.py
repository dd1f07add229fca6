"""The incident's session (googleapis/python-genai#2333) as liveguard events, unguarded.

Timestamps follow the report: greeting turn_complete at T+0 (session t=5.0 here), the phantom
interrupt right after, three caller utterances at T+13, T+20, T+36 that get no audio, close at T+50.
"""

from __future__ import annotations

from liveguard import events as ev

MODEL = "gemini-2.5-flash-native-audio-preview-09-2025"
T0 = 5.0  # session time of the greeting's turn_complete (the report's T+0.0)


def incident_events(session_id: str = "incident-2333") -> list[ev.Event]:
    out: list[ev.Event] = [
        ev.SessionStarted(
            t=0.0, session_id=session_id, transport="twilio", model=MODEL, sdk_version="1.2.3"
        ),
        ev.UpstreamConnecting(t=0.01, attempt=1),
        ev.UpstreamConnected(t=0.3, attempt=1, setup_ms=290.0),
    ]
    # greeting: 11 chunks
    for i in range(11):
        out.append(ev.ModelAudio(t=1.0 + i * 0.1, bytes=9600, gemini_audio_chunks=i + 1, turn=1))
    out.append(ev.OutputTranscript(t=1.2, text="Hello, how can I help?"))
    out.append(ev.GenerationComplete(t=4.9, turn=1))
    out.append(ev.TurnComplete(t=T0, turn=1, gemini_audio_chunks=11, turn_audio_chunks=11))
    out.append(ev.ResumptionUpdate(t=T0, handle="handle-1", resumable=True, turn=1))
    out.append(ev.Interrupted(t=T0, turn=2, last_user_tx="", last_user_tx_age_ms=-1))
    out.append(ev.TurnComplete(t=T0 + 3.0, turn=2, gemini_audio_chunks=11, turn_audio_chunks=0))
    turn = 3
    for start in (13.0, 20.0, 36.0):
        out.append(ev.CallerSpeechStarted(t=T0 + start - 1.5))
        out.append(ev.InputTranscript(t=T0 + start - 1.0, text=" I need"))
        out.append(ev.InputTranscript(t=T0 + start - 0.5, text=" some help"))
        out.append(ev.CallerSpeechEnded(t=T0 + start, duration_s=1.5))
        out.append(
            ev.TurnComplete(
                t=T0 + start + 1.0, turn=turn, gemini_audio_chunks=11, turn_audio_chunks=0
            )
        )
        out.append(
            ev.Usage(t=T0 + start + 1.0, input_tokens=1500, output_tokens=0, total_tokens=1500)
        )
        turn += 1
    out.append(ev.UpstreamClosed(t=T0 + 50.0, code=1000, reason="caller hung up", side="client"))
    out.append(
        ev.SessionEnded(
            t=T0 + 50.0,
            reason="caller hung up",
            input_tokens=6263,
            output_tokens=0,
            gemini_audio_chunks=11,
        )
    )
    return out


def guarded_recovery_events(session_id: str = "guarded-1") -> list[ev.Event]:
    """A guarded session as the relay logs it: greeting, phantom interrupt (verdict, suspect),
    one unanswered turn that is a wedge, a nudge that gets an answer, then a healthy turn."""
    out: list[ev.Event] = [
        ev.SessionStarted(
            t=0.0, session_id=session_id, transport="twilio", model=MODEL, sdk_version="1.2.3"
        ),
        ev.UpstreamConnected(t=0.3, attempt=1),
        ev.ModelAudio(t=1.0, bytes=48000, gemini_audio_chunks=1, turn=1),
        ev.TurnComplete(t=3.0, turn=1, gemini_audio_chunks=1, turn_audio_chunks=1),
        ev.Interrupted(t=3.0, turn=2, last_user_tx="", last_user_tx_age_ms=-1),
        ev.Verdict(t=3.5, kind="phantom_interrupt", turn=2),
        ev.HealthChanged(t=3.5, state="suspect", previous="healthy"),
        ev.CallerSpeechStarted(t=8.0),
        ev.InputTranscript(t=8.5, text="where is my order"),
        ev.CallerSpeechEnded(t=10.0, duration_s=2.0),
        ev.Verdict(t=11.5, kind="unanswered_turn", turn=3),
        ev.Verdict(t=11.5, kind="wedge", turn=3),
        ev.HealthChanged(t=11.5, state="recovering", previous="suspect"),
        ev.RecoveryStarted(t=11.5, rung="nudge", reason="wedge"),
        ev.ModelAudio(t=12.5, bytes=96000, gemini_audio_chunks=2, turn=3),
        ev.TurnAnswered(t=12.5, turn=3, latency_s=2.5),
        ev.RecoveryFinished(t=12.5, rung="nudge", outcome="answered", duration_s=1.0),
        ev.HealthChanged(t=12.5, state="healthy", previous="recovering"),
        ev.TurnComplete(t=15.0, turn=3, gemini_audio_chunks=2, turn_audio_chunks=1),
        ev.CallerSpeechStarted(t=20.0),
        ev.CallerSpeechEnded(t=21.0, duration_s=1.0),
        ev.ModelAudio(t=22.0, bytes=48000, gemini_audio_chunks=3, turn=4),
        ev.TurnAnswered(t=22.0, turn=4, latency_s=1.0),
        ev.TurnComplete(t=23.0, turn=4, gemini_audio_chunks=3, turn_audio_chunks=1),
        ev.UpstreamClosed(t=30.0, code=1011, reason="internal error", side="server"),
        ev.SessionEnded(
            t=30.0,
            reason="caller hung up",
            input_tokens=900,
            output_tokens=150,
            gemini_audio_chunks=3,
        ),
    ]
    return out
