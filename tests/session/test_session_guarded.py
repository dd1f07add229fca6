"""GuardedSession end to end: the real google-genai SDK against the emulator over TLS.

Each test is one short phone call: shipped clips spoken at real time between 20 ms frames of
silence, as a phone line sends them.
"""

from __future__ import annotations

import pytest
from session_helpers import MODEL, Call, is_, session_for

from liveguard import events as ev
from liveguard.config.settings import Settings, VadSettings
from liveguard.session import AudioOut, LiveConfigError


def greeting_done(item) -> bool:
    return isinstance(item, ev.TurnComplete) and item.turn == 1


async def test_healthy_multi_turn_conversation(emulator):
    async with session_for(emulator, "healthy") as session, Call(session) as call:
        await call.wait_for(greeting_done)
        for clip in ("check_order", "thanks_bye"):
            mark = len(call.items)
            end = await call.say(clip)
            answered = await call.wait_for(is_(ev.TurnAnswered), after=mark)
            await call.wait_for(is_(ev.TurnComplete), after=call.items.index(answered))
            assert call.audio_seconds(after_t=end) > 0.5
    assert not call.of(ev.Verdict)
    assert not call.of(ev.RecoveryStarted)
    assert session.stats.connects == 1 and len(emulator.sessions) == 1
    heard = "".join(e.text for e in call.of(ev.InputTranscript)).lower()
    assert "order" in heard
    assert call.of(ev.OutputTranscript)
    assert isinstance(call.items[-1], ev.SessionEnded) and call.items[-1].reason == "closed"
    # the stream yields model audio as AudioOut (with its event), never the bare event
    assert not any(isinstance(i, ev.ModelAudio) for i in call.items)
    assert sum(isinstance(i, AudioOut) for i in call.items) == len(call.of(ev.ModelAudio))


async def test_seed_2333_phantom_then_wedge_is_recovered_and_answered(emulator):
    async with session_for(emulator, "seed-2333") as session, Call(session) as call:
        await call.wait_for(greeting_done)
        await call.wait_for(is_(ev.Verdict, kind="phantom_interrupt"))
        mark = len(call.items)
        end = await call.say("check_order")
        await call.wait_for(is_(ev.RecoveryStarted), after=mark)
        answered = await call.wait_for(is_(ev.TurnAnswered), after=mark)
        assert answered.t > end
        assert call.audio_seconds(after_t=end) > 0
    kinds = [v.kind for v in call.of(ev.Verdict)]
    assert "phantom_interrupt" in kinds and "wedge" in kinds
    phantom = call.of(ev.Interrupted)[0]
    assert (phantom.last_user_tx, phantom.last_user_tx_age_ms) == ("", -1)
    assert [h.state for h in call.of(ev.HealthChanged)][:1] == ["suspect"]


async def test_poisoned_handle_falls_through_to_a_fresh_session(emulator):
    async with session_for(emulator, "poisoned-handle") as session, Call(session) as call:
        await call.wait_for(greeting_done)
        await call.wait_for(is_(ev.Verdict, kind="phantom_interrupt"))
        mark = len(call.items)
        await call.say("check_order")
        fresh = await call.wait_for(
            is_(ev.UpstreamConnected, purpose="fresh"), within=25, after=mark
        )
        await call.wait_for(is_(ev.TurnAnswered), after=call.items.index(fresh), within=10)
    rungs = [r.rung for r in call.of(ev.RecoveryStarted)]
    assert "fresh" in rungs
    # the fresh session was re-seeded, not greeted again: one greeting turn in the whole call
    assert sum(1 for e in call.of(ev.TurnComplete) if e.turn == 1) == 1


GOAWAY_SLOW_SETUP = """
name: goaway-slow-setup
description: GoAway 5 s into each connection, and setup takes 1 s, so caller audio queues up.
seed: 11
connection:
  lifetime_s: 20
  goaway_time_left_s: 15
  setup_delay_s: 1.0
"""


async def test_goaway_rotation_loses_no_caller_frame(emulator_factory, tmp_path):
    path = tmp_path / "goaway-slow-setup.yaml"
    path.write_text(GOAWAY_SLOW_SETUP)
    emu = await emulator_factory(scenario=path)
    async with session_for(emu) as session, Call(session) as call:
        await call.wait_for(greeting_done)
        await call.say("check_order")  # the GoAway arrives while the caller speaks
        await call.wait_for(is_(ev.TurnAnswered))
        rotated = await call.wait_for(is_(ev.UpstreamConnected, purpose="rotate"), within=12)
        mark = call.items.index(rotated)
        # the rotation waited for the turn boundary: the answer completed on the old connection
        assert any(isinstance(i, ev.TurnComplete) and i.turn == 2 for i in call.items[:mark])
        await call.say("thanks_bye")
        await call.wait_for(is_(ev.TurnAnswered), after=mark)
    await emu.wait_closed_sessions()
    assert len(emu.sessions) >= 2
    assert session.stats.max_queued >= 25  # about a second of caller audio waited for setup
    assert session.stats.replay_frames == 0
    received = sum(s.audio_frames_received for s in emu.sessions)
    assert received == session.stats.frames_sent == call.frames_sent
    assert all(s.close_code != 1008 for s in emu.sessions)  # we left before the deadline
    assert call.of(ev.GoAway)


async def test_drop_1011_mid_turn_is_resumed(emulator):
    async with session_for(emulator, "drop-1011") as session, Call(session) as call:
        await call.wait_for(greeting_done)
        await call.say("transfer_billing")
        await call.wait_for(is_(ev.UpstreamClosed, code=1011))
        resumed = await call.wait_for(is_(ev.UpstreamConnected, purpose="resume"))
        assert resumed.resumed
        mark = len(call.items)
        await call.say("thanks_bye")
        await call.wait_for(is_(ev.TurnAnswered), after=mark)
    assert session.stats.connects == 2


async def test_1008_on_resume_goes_to_a_fresh_session(emulator_factory):
    # 1011 mid-turn; handles expire 1 ms after their connection closes, so the resume gets 1008
    emu = await emulator_factory(scenario="resume-not-found")
    async with session_for(emu) as session, Call(session) as call:
        await call.wait_for(greeting_done)
        await call.say("transfer_billing")
        await call.wait_for(is_(ev.UpstreamClosed, code=1008))
        fresh = await call.wait_for(is_(ev.UpstreamConnected, purpose="fresh"))
        mark = call.items.index(fresh)
        await call.say("thanks_bye")
        await call.wait_for(is_(ev.TurnAnswered), after=mark)
    # the fresh conversation may drop again in its own turn 2 (the scenario's fault is per
    # conversation, and the cut answer is replayed there): the first two closes tell the story
    assert [e.code for e in call.of(ev.UpstreamClosed) if e.side == "server"][:2] == [1011, 1008]


async def test_slow_pongs_do_not_drop_a_tolerant_session(emulator):
    # pings every 0.5 s, pongs come 5 s late: a 10 s timeout rides it out
    settings = Settings(model=MODEL, ping_interval_s=0.5, ping_timeout_s=10.0)
    async with session_for(emulator, "slow-pongs", settings) as session, Call(session) as call:
        await call.wait_for(greeting_done)
        await call.say("check_order")
        await call.wait_for(is_(ev.TurnAnswered))
    assert not [e for e in call.of(ev.UpstreamClosed) if e.side == "server"]
    assert session.stats.connects == 1
    await emulator.wait_closed_sessions()
    assert emulator.sessions[0].pongs_delayed >= 1  # a pong came 5 s late and we stayed


async def test_keepalive_setting_reaches_the_socket(emulator):
    """The control for the test above: with a 1 s ping timeout the same pongs drop the socket."""
    settings = Settings(model=MODEL, ping_interval_s=0.5, ping_timeout_s=1.0)
    async with session_for(emulator, "slow-pongs", settings, greeting=False) as session:
        async with Call(session) as call:
            closed = await call.wait_for(is_(ev.UpstreamClosed, side="server"), within=8)
    assert closed.code in (1006, 1011)


async def test_client_vad_mode_signals_activity_and_keeps_transcripts(emulator):
    settings = Settings(model=MODEL, vad=VadSettings(mode="client"))
    async with session_for(emulator, "healthy", settings) as session, Call(session) as call:
        await call.wait_for(greeting_done)
        mark = len(call.items)
        await call.say("check_order")
        await call.wait_for(is_(ev.ActivitySignal, kind="end"), after=mark)
        await call.wait_for(is_(ev.TurnAnswered), after=mark)
    kinds = [e.kind for e in call.of(ev.ActivitySignal)]
    assert kinds[:2] == ["start", "end"] and kinds.count("start") == kinds.count("end")
    assert "order" in "".join(e.text for e in call.of(ev.InputTranscript)).lower()
    assert not call.of(ev.Interrupted)
    await emulator.wait_closed_sessions()
    model = emulator.sessions[0].model_stats
    assert model.activity_starts == kinds.count("start")
    assert model.activity_ends == kinds.count("end")


async def test_bad_key_is_a_clear_config_error_without_retries(emulator):
    events: list[ev.Event] = []
    session = session_for(emulator, "healthy", api_key="not-the-key", on_event=[events.append])
    with pytest.raises(LiveConfigError) as err:
        async with session:
            pass
    assert err.value.code == 1007
    assert "API key not valid" in str(err.value)
    assert len(emulator.sessions) == 1  # one attempt, no reconnect loop
    assert isinstance(events[-1], ev.SessionEnded)
    assert [e.code for e in events if isinstance(e, ev.UpstreamClosed)] == [1007]


@pytest.mark.parametrize("failing_sink", [False, True])
async def test_deliver_now_and_the_stream_together_keep_every_item_in_order(
    emulator, failing_sink: bool
):
    """The synchronous sink (what the relay uses to play model audio without a task hop) and the
    iterator share one ordered stream: the sink is offered an item only while nothing is queued,
    what it refuses is queued, and a sink that raises is dropped without losing its item."""
    async with session_for(emulator, "healthy") as session, Call(session) as call:
        offered: list[object] = []

        def sink(item: object) -> bool:
            offered.append(item)
            if failing_sink and len(offered) == 7:
                raise RuntimeError("sink bug")
            if len(offered) % 3 == 0:
                return False  # refused: the iterator gets it
            call.items.append(item)
            return True

        session.deliver_now = sink
        await call.wait_for(greeting_done, within=20)
        mark = len(call.items)
        await call.say("check_order")
        answered = await call.wait_for(is_(ev.TurnAnswered), after=mark)
        await call.wait_for(is_(ev.TurnComplete), after=call.items.index(answered))
    # every event once, in emission order, whichever way it went (`call.events` begins once the
    # session is open, the stream at its start)
    streamed = [i.event if isinstance(i, AudioOut) else i for i in call.items]
    streamed = [e for e in streamed if isinstance(e, ev.Event)]
    assert len(call.events) > 50
    assert streamed[-len(call.events) :] == call.events
    refused = offered[2::3] if not failing_sink else offered[2:6:3]
    iterated = [i for i in call.items if not any(i is o for o in offered)]
    assert refused and all(any(r is i for i in call.items) for r in refused)
    if failing_sink:
        assert session.deliver_now is None and len(offered) == 7
        assert any(i is offered[6] for i in call.items)  # the item the sink failed on
        assert len(iterated) > 10  # everything after it came through the iterator
    else:
        assert session.deliver_now is sink and len(offered) > 10
        assert sum(isinstance(i, AudioOut) for i in offered) > 5
