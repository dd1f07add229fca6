"""Healthy calls on today's models never trigger anything (issue 13): a property test over random
conversations on each profile (2.5 native audio, 3.1 flash live, 3.8 live, 3.8 extended thinking),
with real-looking audio levels (quiet lead-ins, pauses and fade-outs inside audible answers),
interactionStatus on 3.8, extended-thinking background phases within the budget (the caller asking
"hello?" meanwhile), several spoken parts per request, and NEED_MORE_INPUT turns answered later
within the deadline."""

from __future__ import annotations

from guard_helpers import connect, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveguard.events import (
    CallerSpeechEnded,
    CallerSpeechStarted,
    Event,
    GenerationComplete,
    InputTranscript,
    ModelAudio,
    OutputTranscript,
    SessionEnded,
    TurnAnswered,
    TurnComplete,
    Usage,
    Verdict,
)
from liveguard.guard import Guard, GuardPolicy
from liveguard.guard.actions import Action

POLICY = GuardPolicy()
PROFILES = ("2.5", "3.1", "3.8", "3.8-extended")


class _Call:
    """Collects the events of one generated call in time order."""

    def __init__(self, draw, profile: str) -> None:
        self.draw = draw
        self.profile = profile
        self.events: list[tuple[float, int, Event]] = []
        self.turn = 1
        self.caller_turns = 0

    def add(self, ev: Event) -> None:
        self.events.append((ev.t, len(self.events), ev))

    def status(self, last_part: bool) -> str | None:
        if self.profile in ("2.5", "3.1"):
            return None
        return "IDLE" if last_part else "IN_PROGRESS"

    def answer(self, t0: float, *, last_part: bool = True) -> float:
        """One spoken part: audible from its first chunk, quiet pauses inside, maybe a fade-out;
        returns the time of its turnComplete."""
        draw = self.draw
        n = draw(st.integers(2, 30))
        step = draw(st.floats(0.02, 0.1))
        levels = [draw(st.floats(300.0, 12000.0))]
        levels += [
            draw(st.one_of(st.floats(0.0, 60.0), st.floats(300.0, 12000.0))) for _ in range(n - 1)
        ]
        punctuated = draw(st.booleans())
        if not punctuated:
            levels[-1] = draw(st.floats(0.0, 400.0))  # an unpunctuated end fades out
        for i, level in enumerate(levels):
            self.add(ModelAudio(t=t0 + i * step, bytes=1920, gemini_audio_chunks=0, level=level))
        text = "Sure, here it is." if punctuated else "Sure, here it is"
        self.add(OutputTranscript(t=t0 + step / 2, text=text))
        end = t0 + n * step
        self.add(Usage(t=end, input_tokens=100, output_tokens=25 * n))
        self.add(GenerationComplete(t=end, turn=self.turn))
        self.add(
            TurnComplete(t=end + 0.1, turn=self.turn, interaction_status=self.status(last_part))
        )
        self.turn += 1
        return end + 0.1

    def caller(self, start: float, dur: float, text: str) -> float:
        """A caller utterance heard by local VAD, with its transcript; returns the VAD end."""
        self.add(CallerSpeechStarted(t=start))
        self.add(InputTranscript(t=start + dur * 0.5, text=text))
        end = start + dur + 0.4
        self.add(CallerSpeechEnded(t=end, duration_s=dur + 0.4))
        self.caller_turns += 1
        return end

    def request(self, t: float) -> float:
        draw = self.draw
        deadline = POLICY.answer_deadline_s
        anchor = self.caller(t, draw(st.floats(0.4, 4.0)), "what about my order")
        kind = draw(st.sampled_from(["plain", "need_more_input", "background"]))
        if kind == "background" and self.profile != "3.8-extended":
            kind = "plain"
        if kind == "need_more_input":  # the server waits first, then answers within the deadline
            wait = draw(st.floats(0.1, deadline - 0.6))
            self.add(
                TurnComplete(
                    t=anchor + wait,
                    turn=self.turn,
                    reason="NEED_MORE_INPUT",
                    waiting_for_input=draw(st.booleans()),
                    interaction_status=self.status(True),
                )
            )
            self.turn += 1
            return self.answer(anchor + draw(st.floats(wait + 0.1, deadline - 0.1)))
        first = anchor + draw(st.floats(0.1, deadline - 0.1))
        if kind == "plain":
            return self.answer(first)
        # extended thinking: a spoken filler, IN_PROGRESS, silent work within the budget, the
        # answer in one or more parts, IDLE at the end
        t = self.answer(first, last_part=False)
        for part in range(draw(st.integers(1, 3))):
            silence = draw(st.floats(0.5, POLICY.background_budget_s - 2.0))
            if part == 0 and silence > 4.0 and draw(st.booleans()):
                self.caller(t + 1.0, 0.5, "hello?")  # while the model works; over before it speaks
            last = part == 2 or draw(st.booleans())
            t = self.answer(t + silence, last_part=last)
            if last:
                break
        else:
            self.add(TurnComplete(t=t + 0.5, turn=self.turn, interaction_status="IDLE"))
            self.turn += 1
            t += 0.5
        return t

    def sorted_events(self) -> list[Event]:
        return [e for _, _, e in sorted(self.events, key=lambda x: (x[0], x[1]))]


@st.composite
def healthy_call(draw) -> tuple[list[Event], int, str]:
    call = _Call(draw, draw(st.sampled_from(PROFILES)))
    for e in connect():
        call.add(e)
    t = call.answer(0.5)  # the greeting
    for _ in range(draw(st.integers(1, 5))):
        t = call.request(t + draw(st.one_of(st.floats(0.3, 3.0), st.floats(3.0, 60.0))))
    call.add(SessionEnded(t=t + 1))
    return call.sorted_events(), call.caller_turns, call.profile


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(healthy_call())
def test_healthy_calls_on_todays_models_produce_no_verdict_and_no_action(call):
    events, caller_turns, _profile = call
    guard = Guard(POLICY)
    out = run(guard, events, until=events[-1].t + 300)
    assert [o for o in out if isinstance(o, Verdict)] == []
    assert [o for o in out if isinstance(o, Action)] == []
    names = {getattr(o, "name", "") for o in out}
    assert not names & {"health", "recovery_start", "operator_alert"}
    assert sum(1 for o in out if isinstance(o, TurnAnswered)) == caller_turns
    assert guard.state == "healthy" and guard.counters.recoveries == 0
    starts = [o for o in out if getattr(o, "phase", "") == "start"]
    ends = [o for o in out if getattr(o, "phase", "") == "end"]
    assert len(starts) == len(ends)  # every background phase ended (IDLE), none over budget


def test_the_generator_is_not_vacuous():
    """The same checks catch an inaudible answer and an endless background phase."""
    quiet = [
        ModelAudio(t=12.0 + 0.04 * i, bytes=1920, gemini_audio_chunks=0, level=18.0)
        for i in range(25)
    ]
    guard = Guard(POLICY)
    events = [*connect(), CallerSpeechStarted(t=10.0), CallerSpeechEnded(t=11.0), *quiet]
    events.append(TurnComplete(t=13.1, turn=2, interaction_status="IDLE"))
    out = run(guard, events, until=30)
    assert [o.kind for o in out if isinstance(o, Verdict)] == ["unanswered_turn"]
    guard = Guard(POLICY)
    events = [*connect(), CallerSpeechStarted(t=10.0), CallerSpeechEnded(t=11.0)]
    events.append(TurnComplete(t=12.0, turn=2, interaction_status="IN_PROGRESS"))
    out = run(guard, events, until=60)
    assert [o.kind for o in out if isinstance(o, Verdict)] == ["background_stall"]
