"""Every fault of the scenario system, sans I/O."""

from __future__ import annotations

import pytest
from model_harness import Harness, content, greet, speech_pcm, text

from liveguard.audio.clips import clip_text
from liveguard.emulator.resumption import ResumptionStore
from liveguard.emulator.scenario import load_scenario


def _incident(h: Harness) -> None:
    """seed-2333 as the report tells it: greeting prompt, then three caller utterances."""
    h.connect()
    h.send(content("Greet the caller."), 0.0)
    h.run(10.0)
    for name in ("check_order", "order_number", "transfer_billing"):
        h.say(name)
        h.run(4.0)


def test_seed_2333_signature():
    h = Harness.of("seed-2333")
    _incident(h)
    turns = h.turns()
    # turn 1: the greeting, exactly 11 audio chunks
    assert sum(s.is_audio for s in turns[0]) == 11
    greeting_done = turns[0][-1]
    # then interrupted with no user audio at all, right after turnComplete (+ the handle)
    frames = h.frames()
    i = frames.index(greeting_done)
    follow = [s for s in frames[i + 1 :] if "sessionResumptionUpdate" not in s.payload]
    assert follow[0].content == {"interrupted": True}
    assert follow[0].t == pytest.approx(greeting_done.t)
    assert follow[0].t < 10.0  # the caller's first audio frame is sent at t=10
    # turn 2: turnComplete ~3 s later, no audio
    assert turns[1][-1].t == pytest.approx(greeting_done.t + 3.0)
    # every caller turn afterwards: transcribed, but zero audio and zero output tokens
    later = turns[2:]
    assert len(later) == 3
    for turn, name in zip(later, ("check_order", "order_number", "transfer_billing"), strict=True):
        assert "".join(
            s.content["inputTranscription"]["text"]
            for s in turn
            if "inputTranscription" in s.content
        ) == clip_text(name)
        assert not any(s.is_audio for s in turn)
        usage = turn[-1].payload["usageMetadata"]
        assert usage.get("responseTokenCount", 0) == 0
        assert usage["promptTokenCount"] > 0
    assert h.session.stats.audio_chunks_sent == 11
    assert h.session.stats.phantom_interrupts == 1
    assert h.session.stats.wedged_turns == 3


def test_seed_2333_is_identical_every_run():
    runs = []
    for _ in range(2):
        h = Harness.of("seed-2333")
        _incident(h)
        runs.append([(round(s.t, 9), s.out) for s in h.log])
    assert runs[0] == runs[1]


def test_phantom_skips_seeded_conversations():
    h = Harness.of("seed-2333")
    h.connect()
    h.send(
        content(
            turns=[
                {"role": "user", "parts": [{"text": "Hi, I'd like to check my order status."}]},
                {"role": "model", "parts": [{"text": "Sure, what is your order number?"}]},
            ],
            turn_complete=False,
        )
    )
    h.say("order_number")
    h.run(6.0)
    assert h.session.stats.phantom_interrupts == 0
    assert h.output_text().endswith(clip_text("order_shipped"))


def test_wedge_handle_before_phantom_resumes_healthy_after_it_wedged():
    store = ResumptionStore()
    a = Harness.of("seed-2333", store=store, session_id="a")
    _incident(a)
    # the handle issued right after the greeting, before the phantom, and the last one
    healthy, poisoned = a.handles()[0], a.handles()[-1]
    a.session.connection_closed(a.now)
    b = Harness.of("seed-2333", store=store, session_id="b")
    b.connect(t=a.now + 1, session_resumption={"handle": poisoned})
    b.say("order_number")
    b.run(4.0)
    assert b.audio_frames() == [] and b.session.wedged
    b.session.connection_closed(b.now)
    c = Harness.of("seed-2333", store=store, session_id="c")
    c.connect(t=b.now + 1, session_resumption={"handle": healthy})
    c.say("order_number")
    c.run(6.0)
    assert c.audio_frames() and not c.session.wedged
    assert c.session.stats.phantom_interrupts == 0  # once per conversation


def test_poisoned_handle_stays_wedged_whatever_handle_is_used():
    store = ResumptionStore()
    a = Harness.of("poisoned-handle", store=store, session_id="a")
    _incident(a)
    first = a.handles()[0]
    a.session.connection_closed(a.now)
    b = Harness.of("poisoned-handle", store=store, session_id="b")
    b.connect(t=a.now + 1, session_resumption={"handle": first})
    b.say("order_number")
    b.run(4.0)
    assert b.audio_frames() == []
    assert b.input_text() == clip_text("order_number")
    b.session.connection_closed(b.now)
    fresh = Harness.of("poisoned-handle", store=store, session_id="c")
    fresh.connect(t=b.now + 1)
    fresh.send(
        content(
            turns=[
                {"role": "user", "parts": [{"text": "Hi"}]},
                {"role": "model", "parts": [{"text": "Hello"}]},
            ],
            turn_complete=False,
        )
    )
    fresh.say("order_number")
    fresh.run(6.0)
    assert fresh.audio_frames()  # a fresh, seeded session answers


def test_text_nudge_does_not_clear_when_probability_zero():
    h = Harness.of("seed-2333")
    _incident(h)
    mark = h.mark()
    h.send(text("Yes, my order number is four five six."))
    h.run(4.0)
    assert h.audio_frames(mark) == []
    assert len(h.turns(mark)) == 1


def test_text_nudge_clears_wedge_with_probability_one():
    h = Harness.of("nudge-clears")
    _incident(h)
    mark = h.mark()
    h.send(text("Yes, my order number is four five six."))
    h.run(6.0)
    assert h.output_text(mark) == clip_text("order_shipped")
    assert not h.session.wedged
    mark = h.mark()
    h.say("thanks_bye")
    h.run(6.0)
    assert h.output_text(mark) == clip_text("goodbye")


def test_nudge_probability_is_seeded():
    scenario = (
        "name: half\nseed: 5\nfaults:\n  phantom_interrupt: {after_turn: 1}\n"
        "  wedge: {nudge_clear_probability: 0.5}\n"
    )

    def cleared_after() -> int:
        h = Harness.of(scenario)
        h.connect()
        greet(h)
        h.run(5.0)
        for n in range(1, 30):
            h.send(text("Thanks, that's all."))
            h.run(5.0)
            if not h.session.wedged:
                return n
        return -1

    first = cleared_after()
    assert first > 0 and cleared_after() == first


def test_rejected_turn_complete_reason():
    h = Harness.of("rejected")
    h.connect()
    greet(h)
    h.say("check_order")
    h.run(6.0)
    mark = h.mark()
    h.say("order_number")
    h.run(4.0)
    (turn,) = h.turns(mark)
    assert turn[-1].content == {"turnComplete": True, "turnCompleteReason": "RESPONSE_REJECTED"}
    assert not any(s.is_audio for s in turn)
    assert h.input_text(mark) == clip_text("order_number")


@pytest.mark.parametrize("code", [1011, 1008, 1007])
def test_close_mid_turn_after_k_chunks(code):
    h = Harness.of(f"name: c\nfaults:\n  close: {{code: {code}, at_turn: 2, after_chunks: 3}}\n")
    h.connect()
    greet(h)
    mark = h.mark()
    h.say("check_order")
    h.run(6.0)
    assert len(h.audio_frames(mark)) == 3
    (close,) = h.closes()
    assert close.code == code
    expected = {
        1011: "Internal error encountered.",
        1007: "Request contains an invalid argument.",
        1008: "Policy violation.",
    }[code]
    assert close.reason == expected
    assert h.session.next_deadline() is None


def test_drop_1011_fires_once_per_conversation_and_resume_works():
    store = ResumptionStore()
    a = Harness.of("drop-1011", store=store, session_id="a")
    a.connect()
    greet(a)
    a.say("check_order")
    a.run(6.0)
    assert a.closes()[0].code == 1011
    handle = a.handles()[-1]
    a.session.connection_closed(a.now)
    b = Harness.of("drop-1011", store=store, session_id="b")
    b.connect(t=a.now + 1, session_resumption={"handle": handle})
    b.say("check_order")
    b.run(6.0)
    assert b.closes() == []
    assert b.output_text() == clip_text("ask_order_number")


def test_close_at_time():
    h = Harness.of("name: t\nfaults:\n  close: {code: 1011, at_s: 2.5}\n")
    h.connect()
    h.run(10.0)
    (close,) = h.closes()
    assert close.code == 1011 and h.log[-1].t == pytest.approx(2.5)


def test_pong_policies():
    def policy(name: str):
        h = Harness.of(name)
        h.connect()
        return h.session.pong_policy()

    assert policy("healthy") == 0.0
    assert policy("slow-pongs") == 5.0
    assert policy("no-pongs") is None


def test_setup_delay_holds_setup_complete():
    h = Harness.of("slow-setup")
    assert h.connect() == []
    assert h.session.next_deadline() == pytest.approx(2.0)
    (got,) = h.advance(2.0)
    assert got.payload == {"setupComplete": {}}


def test_first_audio_latency_follows_the_distribution():
    h = Harness.of("slow-setup")
    h.connect()
    h.advance(2.0)
    t0 = 2.0
    latencies = []
    for _ in range(8):
        mark = h.mark()
        h.send(text("Thanks, that's all."), t0)
        h.run(8.0)
        latencies.append(h.audio_frames(mark)[0].t - t0)
        t0 = h.now
    assert all(1.5 <= lat <= 3.0 for lat in latencies)
    assert len(set(round(lat, 6) for lat in latencies)) > 1


def test_duplicated_transcriptions():
    h = Harness.of("duplicate-transcripts")
    h.connect()
    greet(h)
    mark = h.mark()
    h.say("thanks_bye")
    h.run(6.0)
    pieces = [
        s.content["inputTranscription"]["text"] for s in h.content_with("inputTranscription", mark)
    ]
    assert pieces[0::2] == pieces[1::2]
    assert "".join(pieces[0::2]) == clip_text("thanks_bye")
    out = [
        s.content["outputTranscription"]["text"]
        for s in h.content_with("outputTranscription", mark)
    ]
    assert out[0::2] == out[1::2]


def test_fault_budget_max_times_is_per_emulator():
    scenario = (
        "name: once\nfaults:\n  phantom_interrupt: {after_turn: 1, max_times: 1}\n"
        "  wedge: {start: after_phantom}\n"
    )
    store = ResumptionStore()
    counts = []
    for i in range(3):
        h = Harness.of(scenario, store=store, session_id=f"s{i}")
        h.connect()
        greet(h)
        counts.append(h.session.stats.phantom_interrupts)
        h.session.connection_closed(h.now)
    assert counts == [1, 0, 0]


def test_wedge_after_turn_without_phantom():
    h = Harness.of("name: w\nfaults:\n  wedge: {start: after_turn, after_turn: 1}\n")
    h.connect()
    greet(h)
    assert h.session.wedged
    mark = h.mark()
    h.say("thanks_bye")
    h.run(4.0)
    assert h.audio_frames(mark) == [] and h.input_text(mark) == clip_text("thanks_bye")


def test_caller_speech_during_phantom_window_is_queued_not_lost():
    h = Harness.of("seed-2333")
    h.connect()
    h.send(content("Greet the caller."), 0.0)
    while not h.session.stats.phantom_interrupts:
        h.advance(h.now + 0.05)
    mark = h.mark()
    h.stream(speech_pcm("check_order", 0.1, 0.8))  # inside the 3 s before turn 2 completes
    h.run(6.0)
    assert h.input_text(mark) == clip_text("check_order")
    assert len(h.turns(mark)) == 2  # the phantom's turn 2, then the caller's (wedged) turn


def test_every_builtin_scenario_runs_a_short_call():
    from liveguard.emulator.scenario import builtin_scenarios

    for name in builtin_scenarios():
        h = Harness.of(load_scenario(name))
        h.connect(tools=[{"function_declarations": [{"name": "lookup_order"}]}])
        h.run(3.0)
        h.send(content("Greet the caller."))
        h.run(8.0)
        h.say("order_number")
        h.run(8.0)
        if name == "setup-never-completes":  # its point: the first connection never hears back
            assert h.frames() == [] and h.session.stats.setup_stalled, name
            continue
        assert h.frames(), name
