"""From wire frames to decisions, without sockets: server messages as today's models send them,
parsed by the SDK 3.6.1 as its receive path does, translated by the session's `MessageTranslator`
(stamping from the guard's own tracker) and fed to the guard. Proves the two halves agree on
audio levels, interactionStatus and the counters they now share."""

from __future__ import annotations

import base64

import numpy as np
from google.genai import _live_converters as live_converters
from google.genai import types

from liveguard import events as ev
from liveguard.guard import Guard, GuardPolicy
from liveguard.guard.actions import Action, SendText
from liveguard.session.translate import MessageTranslator


def msg(frame: dict) -> types.LiveServerMessage:
    converted = live_converters._LiveServerMessage_from_mldev(frame)
    return types.LiveServerMessage._from_response(response=converted, kwargs={})


def speech(level: int, n: int = 960) -> str:
    x = np.full(n, level, dtype="<i2")
    x[1::2] = -level
    return base64.b64encode(x.tobytes()).decode()


def audio(level: int, text: str | None = None) -> dict:
    part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": speech(level)}}
    sc: dict = {"modelTurn": {"parts": [part]}}
    if text is not None:
        sc["outputTranscription"] = {"text": text}
    return {"serverContent": sc}


def done(status: str | None = None, **extra) -> dict:
    sc = {"turnComplete": True, **extra}
    if status:
        sc["interactionStatus"] = status
    return {"serverContent": sc}


class Session:
    """What GuardedSession does with each message: translate it, feed every event to the guard."""

    def __init__(self, policy: GuardPolicy | None = None) -> None:
        self.guard = Guard(policy or GuardPolicy())
        self.translator = MessageTranslator(caller=self.guard.turns)
        self.out: list = []
        self.events: list[ev.Event] = []

    def local(self, event: ev.Event) -> None:
        self.events.append(event)
        self.out += self.guard.feed(event)

    def server(self, t: float, frame: dict) -> None:
        for event in self.translator.translate(msg(frame), t).events:
            self.local(event)

    def tick(self, t: float) -> None:
        self.out += self.guard.tick(t)

    def verdicts(self) -> list[ev.Verdict]:
        return [o for o in self.out if isinstance(o, ev.Verdict)]

    def actions(self) -> list[Action]:
        return [o for o in self.out if isinstance(o, Action)]


def start(s: Session) -> None:
    s.local(ev.UpstreamConnecting(t=0.0, attempt=1))
    s.local(ev.UpstreamConnected(t=0.3, attempt=1))
    for i in range(5):
        s.server(0.5 + 0.04 * i, audio(4000, "Hello." if i == 0 else None))
    s.server(0.8, done("IDLE"))


def caller(s: Session, t: float, text: str) -> None:
    s.local(ev.CallerSpeechStarted(t=t))
    s.server(t + 0.5, {"serverContent": {"inputTranscription": {"text": text}}})
    s.local(ev.CallerSpeechEnded(t=t + 1.0, duration_s=1.0))


def test_extended_thinking_from_the_wire_is_healthy():
    s = Session()
    start(s)
    caller(s, 5.0, "book a table")
    for i in range(10):  # the spoken filler
        s.server(6.5 + 0.04 * i, audio(3000, "Let me check." if i == 0 else None))
    s.server(7.0, done("IN_PROGRESS"))
    s.tick(30.0)  # 23 s of silent work
    for i in range(20):
        s.server(30.5 + 0.04 * i, audio(5000, "You have a table at eight." if i == 0 else None))
    s.server(31.5, done("IDLE"))
    s.tick(120.0)
    assert s.verdicts() == [] and s.actions() == []
    phases = [(o.phase, o.duration_s) for o in s.out if isinstance(o, ev.BackgroundWork)]
    assert phases == [("start", 0.0), ("end", 24.5)]
    tc = [e for e in s.events if isinstance(e, ev.TurnComplete)]
    assert [(e.turn, e.turn_audio_chunks, e.interaction_status) for e in tc] == [
        (1, 5, "IDLE"),
        (2, 10, "IN_PROGRESS"),
        (3, 20, "IDLE"),
    ]
    assert s.translator.gemini_audio_chunks == 35 == s.guard.turns.gemini_audio_chunks


def test_an_inaudible_answer_from_the_wire_is_nudged_with_its_level_as_evidence():
    s = Session()
    start(s)
    caller(s, 5.0, "where is my order")
    for i in range(50):
        s.server(6.5 + 0.04 * i, audio(18, "It ships tomorrow." if i == 0 else None))
    s.server(8.6, done())
    (verdict,) = s.verdicts()
    assert verdict.kind == "unanswered_turn" and verdict.evidence["rule"] == "inaudible_answer"
    assert verdict.evidence["level_mean"] == 18.0 and verdict.evidence["inaudible_chunks"] == 50
    assert s.actions() == [SendText(text="where is my order")]
    assert [o for o in s.out if isinstance(o, ev.TurnAnswered)] == []  # nothing was heard


def test_need_more_input_from_the_wire_waits_within_the_deadline():
    s = Session()
    start(s)
    caller(s, 5.0, "I would like")
    s.server(6.3, done("IDLE", turnCompleteReason="NEED_MORE_INPUT", waitingForInput=True))
    assert s.verdicts() == []
    s.tick(9.1)
    (verdict,) = s.verdicts()
    assert verdict.t == 9.0 and verdict.evidence["rule"] == "answer_deadline"
