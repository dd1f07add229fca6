"""Healthy calls never trigger anything: scripted streams and a property test over random healthy
conversations (every caller utterance answered in time, random pauses, barge-ins with evidence,
tool calls, slow answers, lagging transcripts, with and without local VAD)."""

from __future__ import annotations

from guard_helpers import caller_says, connect, labels, model_turn, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveguard.events import (
    CallerSpeechEnded,
    CallerSpeechStarted,
    Event,
    GenerationComplete,
    InputTranscript,
    Interrupted,
    ModelAudio,
    OutputTranscript,
    ResumptionUpdate,
    SessionEnded,
    ToolCall,
    ToolResponse,
    TurnComplete,
    Usage,
    Verdict,
    VoiceActivity,
)
from liveguard.guard import Guard, GuardPolicy
from liveguard.guard.actions import Action, FlushPlayback

POLICY = GuardPolicy()


def assert_quiet(out: list, allow_real_interrupts: bool = True) -> None:
    verdicts = [o.kind for o in out if isinstance(o, Verdict)]
    actions = [type(o).__name__ for o in out if isinstance(o, Action)]
    allowed = {"real_interrupt"} if allow_real_interrupts else set()
    assert set(verdicts) <= allowed, verdicts
    assert set(actions) <= {"FlushPlayback"}, actions
    assert not [
        o for o in out if getattr(o, "name", "") in ("health", "recovery_start", "operator_alert")
    ]


def test_silent_caller_and_long_pauses():
    guard = Guard(POLICY)
    greeting, end = model_turn(0.5, 11, 1, "Hello.")
    keepalive = [
        ResumptionUpdate(t=end + 0.9 * i, handle=f"h{i}", resumable=True) for i in range(300)
    ]
    out = run(guard, connect() + greeting + keepalive, until=600.0)
    assert_quiet(out, allow_real_interrupts=False)
    assert out == []


def test_barge_in_tool_call_and_slow_answer():
    guard = Guard(POLICY)
    greeting, _end = model_turn(0.5, 20, 1, "Hello, this is a long greeting.")
    evs = connect() + [e for e in greeting if e.t < 1.2]
    # barge-in during the greeting: caller speaks, server interrupts, turn closes
    evs += [CallerSpeechStarted(t=1.2), VoiceActivity(t=1.3, kind="ACTIVITY_START")]
    evs += [Interrupted(t=1.4), TurnComplete(t=1.45, turn=1)]
    evs += [InputTranscript(t=1.8, text="Sorry, I need"), CallerSpeechEnded(t=2.6, duration_s=1.4)]
    ans, t = model_turn(3.5, 8, 2)
    evs += ans
    # a tool call that takes 9 s, with an empty turnComplete before the tool response
    evs += caller_says(t + 20.0, 1.5, "what is the weather in Paris")
    vad_end = t + 21.9
    evs += [ToolCall(t=vad_end + 0.5, ids=("f1",), names=("weather",))]
    evs += [TurnComplete(t=vad_end + 0.6, turn=3)]
    evs += [ToolResponse(t=vad_end + 9.6, ids=("f1",))]
    ans, t = model_turn(vad_end + 11.0, 6, 4)
    evs += ans
    # a slow but real answer: 2.9 s after the end of speech
    evs += caller_says(t + 30.0, 1.0, "thank you")
    ans, t = model_turn(t + 31.4 + 2.9, 4, 5)
    evs += [*ans, SessionEnded(t=t + 5)]
    out = run(guard, evs, until=t + 100)
    assert_quiet(out)
    assert labels(out) == ["verdict:real_interrupt", "FlushPlayback"]
    assert labels(out, skip_answered=False).count("turn_answered") == 3


# ---------------------------------------------------------------- property test


@st.composite
def healthy_conversation(draw) -> tuple[list[Event], int]:
    """Events of a random healthy call, and how many caller turns it has."""
    vad = draw(st.booleans())
    deadline = POLICY.answer_deadline_s
    evs: list[tuple[float, int, Event]] = []
    seq = 0

    def add(ev: Event) -> None:
        nonlocal seq
        evs.append((ev.t, seq, ev))
        seq += 1

    def answer(t0: float, turn: int, late_fragment: bool) -> float:
        chunks = draw(st.integers(1, 25))
        step = draw(st.floats(0.02, 0.2))
        turn_evs, end = model_turn(t0, chunks, turn, "Okay.", step)
        for e in turn_evs:
            add(e)
        if late_fragment:  # a lagging input-transcript fragment while the model speaks
            add(InputTranscript(t=t0 + min(0.01, step / 2), text=" (late)"))
        return end

    for e in connect():
        add(e)
    t = answer(0.5, 1, False)
    turns = 0
    for turn in range(2, 2 + draw(st.integers(1, 6))):
        t += draw(st.one_of(st.floats(0.2, 3.0), st.floats(3.0, 120.0)))
        add(ResumptionUpdate(t=t - 0.1, handle=f"h{turn}", resumable=True))
        kind = draw(st.sampled_from(["plain", "bargein", "tool", "split"]))
        dur = draw(st.floats(0.3, 5.0))
        start = t
        if kind == "bargein":  # the caller speaks over a model answer; evidence comes first
            barge = draw(st.floats(0.05, 0.9))
            for i in range(10):
                if 0.1 * i < barge:
                    add(ModelAudio(t=t + 0.1 * i, bytes=9600, gemini_audio_chunks=0))
            start = t + barge
            if vad:
                add(CallerSpeechStarted(t=start))
            add(VoiceActivity(t=start + 0.1, kind="ACTIVITY_START"))
            add(Interrupted(t=start + draw(st.floats(0.15, 0.5))))
            add(TurnComplete(t=start + 0.55, turn=turn))
            start += 0.6
            dur = max(dur, 0.6)
        elif vad:
            add(CallerSpeechStarted(t=start))
        speech_end = start + dur
        frag_t = [start + f * dur for f in (0.3, 0.6, 0.95)]
        for i, ft in enumerate(frag_t):
            add(InputTranscript(t=ft, text=f" word{i}"))
        if vad and kind == "split":  # a short pause inside one utterance
            gap = draw(st.floats(0.1, 1.5))
            add(CallerSpeechEnded(t=speech_end + 0.4, duration_s=dur + 0.4))
            add(CallerSpeechStarted(t=speech_end + 0.4 + gap))
            speech_end += 0.4 + gap + 0.5
        if vad:
            anchor = speech_end + 0.4
            add(CallerSpeechEnded(t=anchor, duration_s=dur + 0.4))
            add(VoiceActivity(t=speech_end + 0.2, kind="ACTIVITY_END"))
        else:
            anchor = frag_t[-1]
        turns += 1
        if kind == "tool":
            tool_t = anchor + draw(st.floats(0.2, 2.0))
            add(ToolCall(t=tool_t, ids=(f"f{turn}",), names=("lookup",)))
            if draw(st.booleans()):
                add(TurnComplete(t=tool_t + 0.05, turn=turn))
            anchor = tool_t + draw(st.floats(0.1, 12.0))
            add(ToolResponse(t=anchor, ids=(f"f{turn}",)))
        first_audio = max(anchor + draw(st.floats(0.1, deadline - 0.1)), speech_end + 0.15)
        if vad and kind != "tool":  # fast answers may beat the local VAD's hangover
            first_audio = min(first_audio, anchor + deadline - 0.1)
        t = answer(first_audio, turn, late_fragment=draw(st.booleans()))
    add(SessionEnded(t=t + 1))
    return [e for _, _, e in sorted(evs, key=lambda x: (x[0], x[1]))], turns


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(healthy_conversation())
def test_random_healthy_conversations_never_trigger_anything(conv):
    events, caller_turns = conv
    guard = Guard(POLICY)
    out = run(guard, events, until=events[-1].t + 300)
    assert_quiet(out)
    assert sum(1 for o in out if isinstance(o, FlushPlayback)) == sum(
        1 for e in events if isinstance(e, Interrupted)
    )
    assert sum(1 for o in out if getattr(o, "name", "") == "turn_answered") == caller_turns
    assert guard.state == "healthy"
    assert guard.counters.recoveries == 0


def test_healthy_generator_is_not_vacuous():
    """The checker above does see trouble: the same stream with one answer removed is judged."""
    guard = Guard(POLICY)
    greeting, end = model_turn(0.5, 5, 1)
    evs = connect() + greeting + caller_says(end + 2, 1.0, "hello there")
    out = run(
        guard,
        [e for e in evs if not isinstance(e, GenerationComplete | OutputTranscript | Usage)],
        until=60,
    )
    assert [o.kind for o in out if isinstance(o, Verdict)] == ["unanswered_turn"]
