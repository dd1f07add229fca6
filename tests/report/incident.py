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
        ev.SessionStarted(t=0.0, session_id=session_id, transport="twilio", model=MODEL,
                          sdk_version="1.2.3"),
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
        out.append(ev.TurnComplete(t=T0 + start + 1.0, turn=turn, gemini_audio_chunks=11,
                                   turn_audio_chunks=0))
        out.append(ev.Usage(t=T0 + start + 1.0, input_tokens=1500, output_tokens=0,
                            total_tokens=1500))
        turn += 1
    out.append(ev.UpstreamClosed(t=T0 + 50.0, code=1000, reason="caller hung up", side="client"))
    out.append(ev.SessionEnded(t=T0 + 50.0, reason="caller hung up", input_tokens=6263,
                               output_tokens=0, gemini_audio_chunks=11))
    return out
