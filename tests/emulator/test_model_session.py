"""Session management in the emulated model: resumption, goAway, lifetime, tools, compression."""

from __future__ import annotations

import pytest
from model_harness import Harness, content, greet, text

from liveguard.audio.clips import clip_text
from liveguard.emulator.model import GOAWAY_CLOSE_REASON, SESSION_NOT_FOUND, ResumptionStore
from liveguard.emulator.wire import ClientMessage


def test_handle_after_each_turn_and_not_resumable_while_generating():
    h = Harness.of("healthy")
    h.connect()
    greet(h)
    h.send(text("Can you transfer me to billing?"))
    h.run(6.0)
    updates = [s.payload["sessionResumptionUpdate"] for s in h.with_key("sessionResumptionUpdate")]
    assert updates[0] == {"resumable": False}
    assert updates[1]["resumable"] is True and updates[1]["newHandle"]
    assert updates[2] == {"resumable": False}
    assert updates[3]["resumable"] is True
    assert len(set(h.handles())) == 2
    # each handle comes right after a turnComplete
    frames = h.frames()
    for i, s in enumerate(frames):
        if s.payload.get("sessionResumptionUpdate", {}).get("newHandle"):
            assert frames[i - 1].content.get("turnComplete")


def test_no_resumption_updates_unless_requested():
    h = Harness.of("healthy")
    h.connect(session_resumption=None)
    greet(h)
    assert h.with_key("sessionResumptionUpdate") == []


def test_resume_restores_the_conversation():
    store = ResumptionStore()
    a = Harness.of("healthy", store=store, session_id="a")
    a.connect()
    greet(a)
    a.send(text("Yes, my order number is four five six."))
    a.run(6.0)
    handle = a.handles()[-1]
    a.session.connection_closed(a.now)
    b = Harness.of("healthy", store=store, session_id="b")
    assert b.connect(t=a.now + 1, session_resumption={"handle": handle})[0].payload == {
        "setupComplete": {}
    }
    assert b.session.stats.resumed
    b.send(text("Sorry, could you repeat that?"))
    b.run(6.0)
    # the resumed model remembers its last answer, and does not greet again
    assert b.output_text() == clip_text("order_shipped")


def test_bad_handle_closes_1008_session_not_found():
    h = Harness.of("healthy")
    got = h.connect(session_resumption={"handle": "not-a-handle"})
    assert [(c.code, c.reason) for c in h.closes()] == [(1008, SESSION_NOT_FOUND)]
    assert len(got) == 1


def test_resume_while_old_connection_open_is_rejected():
    store = ResumptionStore()
    a = Harness.of("healthy", store=store, session_id="a")
    a.connect()
    greet(a)
    handle = a.handles()[-1]
    b = Harness.of("healthy", store=store, session_id="b")
    b.connect(t=a.now, session_resumption={"handle": handle})
    assert [(c.code, c.reason) for c in b.closes()] == [(1008, SESSION_NOT_FOUND)]
    a.session.connection_closed(a.now + 1)
    c = Harness.of("healthy", store=store, session_id="c")
    assert c.connect(t=a.now + 2, session_resumption={"handle": handle})[0].payload == {
        "setupComplete": {}
    }


def test_handles_expire_after_ttl_once_the_session_ended():
    store = ResumptionStore()
    scenario = "name: short-ttl\nconnection: {handle_ttl_s: 10}\n"
    a = Harness.of(scenario, store=store, session_id="a")
    a.connect()
    greet(a)
    handle = a.handles()[-1]
    a.session.connection_closed(100.0)
    late = Harness.of(scenario, store=store, session_id="b")
    late.connect(t=111.0, session_resumption={"handle": handle})
    assert [c.code for c in late.closes()] == [1008]
    store2_ok = Harness.of(scenario, store=store, session_id="c")
    # a fresh handle of another conversation is unaffected
    store2_ok.connect(t=111.0)
    assert not store2_ok.closes()


def test_goaway_before_lifetime_then_close_1008():
    h = Harness.of("goaway")
    h.connect()
    h.run(20.0)
    (ga,) = h.with_key("goAway")
    assert ga.payload == {"goAway": {"timeLeft": "8s"}}
    assert ga.t == pytest.approx(4.0)
    (close,) = h.closes()
    assert (close.code, close.reason) == (1008, GOAWAY_CLOSE_REASON[:123])
    assert h.log[-1].t == pytest.approx(12.0)
    assert h.session.stats.goaway_sent


def test_default_lifetime_is_ten_minutes_with_50s_goaway():
    h = Harness.of("healthy")
    h.connect()
    h.run(700.0)
    (ga,) = h.with_key("goAway")
    assert ga.payload["goAway"]["timeLeft"] == "50s" and ga.t == pytest.approx(550.0)
    assert h.closes()[0].code == 1008 and h.log[-1].t == pytest.approx(600.0)


def test_tool_call_then_tool_response_then_speech():
    h = Harness.of("tool-call")
    h.connect(tools=[{"function_declarations": [{"name": "lookup_order"}]}])
    greet(h)
    mark = h.mark()
    h.say("order_number")
    h.run(3.0)
    (call,) = h.with_key("toolCall")
    fc = call.payload["toolCall"]["functionCalls"][0]
    assert fc["name"] == "lookup_order" and fc["args"] == {"order_number": "456"}
    assert fc["id"].startswith("function-call-")
    assert h.audio_frames(mark) == []
    # resumable: false while the function runs
    assert h.with_key("sessionResumptionUpdate", mark)[-1].payload["sessionResumptionUpdate"] == {
        "resumable": False
    }
    h.send(
        ClientMessage(
            "tool_response",
            {
                "function_responses": [
                    {"id": fc["id"], "name": "lookup_order", "response": {"ok": 1}}
                ]
            },
        )
    )
    h.run(6.0)
    assert h.output_text(mark) == clip_text("order_shipped")
    assert h.session.stats.tool_calls_sent == 1


def test_tool_call_only_when_the_function_is_declared():
    h = Harness.of("tool-call")
    h.connect()
    greet(h)
    h.say("order_number")
    h.run(6.0)
    assert h.with_key("toolCall") == []
    assert h.output_text().endswith(clip_text("order_shipped"))


def test_context_window_exhausted_closes_1007_without_compression():
    scenario = "name: tiny\nmodel: {context_window_tokens: 1000}\n"
    h = Harness.of(scenario)
    h.connect()
    for _ in range(60):
        h.send(text("Can you transfer me to billing? " * 3))
        h.run(5.0)
        if h.closes():
            break
    assert [(c.code, c.reason) for c in h.closes()] == [
        (1007, "Request contains an invalid argument.")
    ]


def test_context_window_compression_keeps_the_session_going():
    scenario = "name: tiny\nmodel: {context_window_tokens: 1000}\n"
    h = Harness.of(scenario)
    h.connect(context_window_compression={"sliding_window": {}})
    for _ in range(40):
        h.send(text("Can you transfer me to billing? " * 3))
        h.run(5.0)
    assert h.closes() == []
    assert h.session.stats.model_turns == 40


def test_client_content_interrupts_the_current_answer():
    h = Harness.of("healthy")
    h.connect()
    h.send(content("Greet the caller."))
    while not h.audio_frames():
        h.advance(h.now + 0.05)
    got = h.send(content("What time do you close today?"))
    assert [s.content for s in got][:2] == [{"interrupted": True}, {"turnComplete": True}]
    h.run(6.0)
    assert h.output_text().endswith(clip_text("closing_time"))


def test_connection_closed_stops_all_timers_and_ignores_input():
    h = Harness.of("healthy")
    h.connect()
    h.send(content("Greet the caller."))
    h.session.connection_closed(h.now)
    assert h.session.next_deadline() is None
    assert h.session.handle_client(text("hi"), h.now + 1) == []
