"""Drive the sans-I/O emulated model with messages and a fake clock, and read what it sent.

`Harness` plays the server loop: it feeds `ClientMessage`s at given times, fires the model's
deadlines in between, and records every output with the time it was produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from liveguard.audio.clips import load_clip
from liveguard.emulator.model import (
    CloseConnection,
    EmulatedSession,
    Output,
    ResumptionStore,
    SendFrame,
)
from liveguard.emulator.scenario import Scenario, load_scenario, parse_scenario
from liveguard.emulator.wire import ClientMessage

MODEL = "models/gemini-2.5-flash-native-audio-preview-12-2025"
FRAME_BYTES = 640  # 20 ms at 16 kHz
# the built-in scenarios of today's faults (the silent calls users report in 2026)
TODAYS_SCENARIOS = frozenset(
    {
        "silent-stall",
        "inaudible-answers",
        "response-rejected-run",
        "cut-answer",
        "freeze-after-barge-in",
        "endless-in-progress",
        "background-phase",
        "setup-never-completes",
        "setup-stall-affective",
        "resume-rejected-1011",
        "deadline-1011",
    }
)


def setup_body(**extra: Any) -> dict:
    body: dict[str, Any] = {
        "model": MODEL,
        "session_resumption": {},
        "input_audio_transcription": {},
        "output_audio_transcription": {},
    }
    body.update(extra)
    return body


def audio(data: bytes, rate: int = 16000) -> ClientMessage:
    return ClientMessage(
        "realtime_input", {"audio": {"data": data, "mime_type": f"audio/pcm;rate={rate}"}}
    )


def text(value: str) -> ClientMessage:
    return ClientMessage("realtime_input", {"text": value})


def realtime(**body: Any) -> ClientMessage:
    return ClientMessage("realtime_input", body)


def content(user_text: str | None = None, *, turn_complete: bool = True, turns: list | None = None):
    if turns is None:
        turns = [] if user_text is None else [{"role": "user", "parts": [{"text": user_text}]}]
    body: dict[str, Any] = {"turn_complete": turn_complete}
    if turns:
        body["turns"] = turns
    return ClientMessage("client_content", body)


def speech_pcm(name: str, lead_s: float = 0.5, tail_s: float = 1.5) -> bytes:
    """A shipped utterance wrapped in digital silence, 16 kHz PCM16."""
    return bytes(int(lead_s * 32000)) + load_clip(name).pcm + bytes(int(tail_s * 32000))


@dataclass
class Sent:
    t: float
    out: Output

    @property
    def payload(self) -> dict:
        assert isinstance(self.out, SendFrame)
        return self.out.payload

    @property
    def content(self) -> dict:
        if isinstance(self.out, SendFrame):
            return self.out.payload.get("serverContent") or {}
        return {}

    @property
    def is_audio(self) -> bool:
        parts = (self.content.get("modelTurn") or {}).get("parts") or []
        return any("inlineData" in p for p in parts)


@dataclass
class Harness:
    scenario: Scenario
    store: ResumptionStore = field(default_factory=ResumptionStore)
    session_id: str = "s1"
    now: float = 0.0
    log: list[Sent] = field(default_factory=list)
    session: EmulatedSession | None = None

    @classmethod
    def of(cls, scenario: str | Scenario, **kw: Any) -> Harness:
        if isinstance(scenario, str):
            scenario = (
                parse_scenario(scenario)
                if "\n" in scenario or ":" in scenario
                else load_scenario(scenario)
            )
        return cls(scenario=scenario, **kw)

    def connect(self, t: float = 0.0, **setup: Any) -> list[Sent]:
        self.now = t
        self.session = EmulatedSession(
            self.scenario, store=self.store, session_id=self.session_id, now=t
        )
        return self._keep(self.session.handle_setup(setup_body(**setup), t), t)

    def _keep(self, outs: list[Output], t: float) -> list[Sent]:
        sent = [Sent(t, o) for o in outs]
        self.log.extend(sent)
        return sent

    def advance(self, t: float) -> list[Sent]:
        """Fire every deadline up to `t`."""
        assert self.session is not None
        got: list[Sent] = []
        while (d := self.session.next_deadline()) is not None and d <= t:
            got += self._keep(self.session.poll(d), d)
        self.now = max(self.now, t)
        return got

    def send(self, msg: ClientMessage, t: float | None = None) -> list[Sent]:
        assert self.session is not None
        t = self.now if t is None else t
        got = self.advance(t)
        return got + self._keep(self.session.handle_client(msg, t), t)

    def stream(self, pcm: bytes, t0: float | None = None, speed: float = 1.0) -> list[Sent]:
        """Send PCM16 16 kHz in 20 ms frames starting at t0, `speed` times real time."""
        t = self.now if t0 is None else t0
        got: list[Sent] = []
        for i in range(0, len(pcm), FRAME_BYTES):
            got += self.send(audio(pcm[i : i + FRAME_BYTES]), t)
            t += 0.02 / speed
        self.now = t
        return got

    def say(self, name: str, t0: float | None = None, **kw: Any) -> list[Sent]:
        return self.stream(speech_pcm(name, **kw), t0)

    def run(self, seconds: float) -> list[Sent]:
        return self.advance(self.now + seconds)

    # --- reading the log

    def closes(self) -> list[CloseConnection]:
        return [s.out for s in self.log if isinstance(s.out, CloseConnection)]

    def frames(self) -> list[Sent]:
        return [s for s in self.log if isinstance(s.out, SendFrame)]

    def with_key(self, key: str, since: int = 0) -> list[Sent]:
        return [s for s in self.frames()[since:] if key in s.payload]

    def content_with(self, key: str, since: int = 0) -> list[Sent]:
        return [s for s in self.frames()[since:] if key in s.content]

    def audio_frames(self, since: int = 0) -> list[Sent]:
        return [s for s in self.frames()[since:] if s.is_audio]

    def input_text(self, since: int = 0) -> str:
        return "".join(
            s.content["inputTranscription"]["text"]
            for s in self.content_with("inputTranscription", since)
        )

    def output_text(self, since: int = 0) -> str:
        return "".join(
            s.content["outputTranscription"]["text"]
            for s in self.content_with("outputTranscription", since)
        )

    def handles(self) -> list[str]:
        return [
            s.payload["sessionResumptionUpdate"]["newHandle"]
            for s in self.with_key("sessionResumptionUpdate")
            if s.payload["sessionResumptionUpdate"].get("newHandle")
        ]

    def turns(self, since: int = 0) -> list[list[Sent]]:
        """Frames grouped into turns, each ending with its turnComplete frame."""
        groups: list[list[Sent]] = [[]]
        for s in self.frames()[since:]:
            groups[-1].append(s)
            if s.content.get("turnComplete"):
                groups.append([])
        return [g for g in groups if any(s.content.get("turnComplete") for s in g)]

    def mark(self) -> int:
        return len(self.frames())


def greet(h: Harness, t: float | None = None) -> list[Sent]:
    """The client's greeting prompt, answered in full."""
    got = h.send(content("Greet the caller warmly."), t)
    return got + h.run(8.0)
