"""Hypothesis: random fault mixes, profiles and client behaviour never break the emulated model.

Whatever a client does and whatever faults a scenario combines, the model only produces frames
the wire codec accepts, keeps the protocol's own invariants (interactionStatus only beside
turnComplete, always there on 3.8, nothing after a close), and its timer queue stays bounded.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_harness import Harness, content, realtime, speech_pcm, text

from liveguard.emulator.model import CloseConnection, SendFrame
from liveguard.emulator.scenario import parse_scenario
from liveguard.emulator.wire import ClientMessage, encode_server_message

MODELS = [
    "models/gemini-2.5-flash-native-audio-preview-12-2025",
    "models/gemini-3.1-flash-live-preview",
    "models/gemini-3.8-live",
    "models/gemini-3.8-live-extended-thinking",
]
UTTERANCES = ["check_order", "order_number", "still_there", "opening_hours", "thanks_bye"]

_turn = st.integers(1, 4)
_turns = st.one_of(st.none(), st.integers(1, 3))
FAULTS: dict[str, Any] = {
    "silent_stall": st.fixed_dictionaries({"from_turn": _turn, "turns": _turns}),
    "rejected_run": st.fixed_dictionaries({"from_turn": _turn, "turns": _turns}),
    "inaudible_answers": st.fixed_dictionaries({"from_turn": _turn, "mean_abs": st.floats(0, 500)}),
    "cut_answer": st.fixed_dictionaries({"from_turn": _turn, "fraction": st.floats(0.05, 0.95)}),
    "freeze_after_barge_in": st.fixed_dictionaries({"after_barge_ins": st.integers(1, 2)}),
    "background_phase": st.fixed_dictionaries({"from_turn": _turn, "seconds": st.floats(0, 3)}),
    "endless_background": st.fixed_dictionaries({"from_turn": _turn}),
    "setup_never_completes": st.fixed_dictionaries(
        {"probability": st.sampled_from([0.0, 0.5, 1.0])}
    ),
    "duplicate_transcriptions": st.fixed_dictionaries({"output": st.booleans()}),
    "close": st.fixed_dictionaries(
        {"at_turn": st.integers(1, 4), "after_chunks": st.integers(0, 5)}
    ),
}

_action = st.one_of(
    st.tuples(st.just("say"), st.sampled_from(UTTERANCES), st.floats(0.0, 1.2)),
    st.tuples(st.just("text"), st.sampled_from(["Are you still there?", "hello"]), st.just(0)),
    st.tuples(st.just("content"), st.booleans(), st.booleans()),
    st.tuples(st.just("stream_end"), st.just(0), st.just(0)),
    st.tuples(st.just("tool"), st.just(0), st.just(0)),
    st.tuples(st.just("wait"), st.floats(0.0, 6.0), st.just(0)),
)


def _scenario(faults: dict[str, Any], work: bool, seed: int) -> str:
    data: dict[str, Any] = {"name": "fuzz", "seed": seed, "faults": faults}
    data["model"] = {
        "playback_speed": 5.0,
        "tool_call": {"function": "lookup_order", "on_utterance": "order_number"},
    }
    if work:
        data["model"]["background_work"] = {"on_utterances": ["check_order"], "background_s": 1.0}
    return yaml.safe_dump(data)


def _check_frames(h: Harness, model: str) -> None:
    closed = False
    for sent in h.log:
        assert not closed, "output after a close"
        if isinstance(sent.out, CloseConnection):
            closed = True
            assert len(sent.out.reason.encode()) <= 123
            continue
        assert isinstance(sent.out, SendFrame)
        encode_server_message(sent.out.payload)  # raises on anything the SDK would not take
        sc = sent.payload.get("serverContent") or {}
        if "interactionStatus" in sc:
            assert sc.get("turnComplete") is True
            assert sc["interactionStatus"] in ("IDLE", "IN_PROGRESS")
        if sc.get("turnComplete") and "gemini-3.8" in model:
            assert "interactionStatus" in sc


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    model=st.sampled_from(MODELS),
    chosen=st.dictionaries(st.sampled_from(sorted(FAULTS)), st.just(True), max_size=4),
    data=st.data(),
    work=st.booleans(),
    seed=st.integers(0, 1000),
    actions=st.lists(_action, min_size=1, max_size=8),
)
def test_random_faults_and_clients_never_break_the_model(
    model, chosen, data, work, seed, actions
) -> None:
    faults = {name: data.draw(FAULTS[name], label=name) for name in chosen}
    h = Harness.of(parse_scenario(_scenario(faults, work, seed), "fuzz.yaml"))
    h.connect(model=model, tools=[{"function_declarations": [{"name": "lookup_order"}]}])
    h.send(content("Greet the caller."))
    for kind, a, b in actions:
        if kind == "say":
            h.stream(speech_pcm(a, lead_s=0.1, tail_s=b))
        elif kind == "text":
            h.send(text(a))
        elif kind == "content":
            turns = [{"role": "model" if b else "user", "parts": [{"text": "hello"}]}]
            h.send(content(turns=turns, turn_complete=a))
        elif kind == "stream_end":
            h.send(realtime(audio_stream_end=True))
        elif kind == "tool":
            calls = [
                c for s in h.with_key("toolCall") for c in s.payload["toolCall"]["functionCalls"]
            ]
            ids = [c["id"] for c in calls] or ["function-call-0"]
            h.send(
                ClientMessage(
                    "tool_response",
                    {"function_responses": [{"id": ids[-1], "name": "lookup_order"}]},
                )
            )
        else:
            h.run(a)
        assert len(h.session._queue) < 5000
    h.run(30.0)
    _check_frames(h, model)
    h.session.connection_closed(h.now)
    assert h.session.next_deadline() is None
