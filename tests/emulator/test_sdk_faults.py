"""The real google-genai SDK against the emulator over TLS, for every behaviour and fault.

Plain SDK clients only (no liveguard logic): what any application would see. Caller audio is real
shipped speech sent as 20 ms frames, faster than real time where the behaviour allows it (the
emulator's activity detection runs on audio time, not wall-clock time). Timeouts here are safety
nets against hangs, never assertions about speed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from google.genai import errors, types
from sdk_harness import (
    MODEL,
    Recorder,
    audio_chunks,
    config,
    fast,
    greet,
    input_text,
    output_text,
    scenario_file,
    speak,
    usage,
)

from liveguard.audio.clips import clip_text, load_clip
from liveguard.emulator.server import Emulator

# ---------------------------------------------------------------- healthy behaviour


async def test_healthy_call_with_real_speech(tmp_path, emulator_factory) -> None:
    emulator = await emulator_factory(scenario=fast(tmp_path, "healthy"))
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec)
        frames = await speak(session, "check_order")
        await rec.wait_turns(2)
        rec.stop()
    greeting, answer = rec.turns()[:2]
    assert b"".join(audio_chunks(greeting)) == load_clip("greeting", 24000).pcm
    assert output_text(greeting) == clip_text("greeting")
    assert input_text(answer) == clip_text("check_order")
    assert output_text(answer) == clip_text("ask_order_number")
    assert b"".join(audio_chunks(answer)) == load_clip("ask_order_number", 24000).pcm
    flags = [
        "gen" if m.server_content.generation_complete else "done"
        for m in answer
        if m.server_content
        and (m.server_content.generation_complete or m.server_content.turn_complete)
    ]
    assert flags == ["gen", "done"]
    u = usage(answer)
    assert u.response_token_count == round(load_clip("ask_order_number", 24000).seconds * 25)
    assert u.prompt_token_count > 0
    assert len(rec.handles()) == 2
    (stats,) = await emulator.wait_closed_sessions()
    assert stats.audio_frames_received == frames
    assert stats.close_code == 1000


async def test_barge_in_through_the_sdk(emulator: Emulator) -> None:
    async with emulator.client().aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Greet the caller.")])
        )
        await rec.wait(lambda r: any(audio_chunks([m for _, m in r.messages])), "greeting audio")
        await speak(session, "still_there", lead_s=0.0)
        await rec.wait_turns(2)
        rec.stop()
    first, second = rec.turns()[:2]
    assert any(m.server_content.interrupted for m in first if m.server_content)
    assert not any(m.server_content.generation_complete for m in first if m.server_content)
    assert output_text(second) == clip_text("still_here")


async def test_manual_activity_through_the_sdk(tmp_path, emulator_factory) -> None:
    emulator = await emulator_factory(scenario=fast(tmp_path, "healthy"))
    cfg = config(
        realtime_input_config=types.RealtimeInputConfig(
            automatic_activity_detection=types.AutomaticActivityDetection(disabled=True)
        )
    )
    async with emulator.client().aio.live.connect(model=MODEL, config=cfg) as session:
        rec = Recorder(session)
        await greet(session, rec)
        await speak(session, "thanks_bye")  # outside an activity: ignored
        await session.send_realtime_input(activity_start=types.ActivityStart())
        await speak(session, "thanks_bye", lead_s=0.1, tail_s=0.1)
        await session.send_realtime_input(activity_end=types.ActivityEnd())
        await rec.wait_turns(2)
        rec.stop()
    answer = rec.turns()[1]
    assert input_text(answer) == clip_text("thanks_bye")
    assert output_text(answer) == clip_text("goodbye")
    assert rec.turn_completes() == 2


async def test_tool_call_and_cancellation_through_the_sdk(tmp_path, emulator_factory) -> None:
    emulator = await emulator_factory(scenario=fast(tmp_path, "tool-call"))
    tools = [
        types.Tool(
            function_declarations=[
                types.FunctionDeclaration(name="lookup_order", description="Find an order")
            ]
        )
    ]
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL, config=config(tools=tools)) as session:
        rec = Recorder(session)
        await greet(session, rec)
        await speak(session, "order_number")
        await rec.wait(lambda r: any(m.tool_call for _, m in r.messages), "toolCall")
        call = next(m.tool_call for _, m in rec.messages if m.tool_call).function_calls[0]
        assert call.name == "lookup_order" and call.args == {"order_number": "456"}
        await session.send_tool_response(
            function_responses=[
                types.FunctionResponse(id=call.id, name=call.name, response={"ok": True})
            ]
        )
        await rec.wait_turns(2)
        assert output_text(rec.turns()[1]) == clip_text("order_shipped")
        # a second order number, and a barge-in while the tool runs
        await speak(session, "order_number")
        await rec.wait(lambda r: sum(1 for _, m in r.messages if m.tool_call) == 2, "2nd toolCall")
        await speak(session, "still_there", lead_s=0.0)
        await rec.wait(lambda r: any(m.tool_call_cancellation for _, m in r.messages), "cancel")
        rec.stop()
    second_id = [m.tool_call for _, m in rec.messages if m.tool_call][1].function_calls[0].id
    cancel = next(m.tool_call_cancellation for _, m in rec.messages if m.tool_call_cancellation)
    assert cancel.ids == [second_id]


async def test_bad_resumption_handle_through_the_sdk(tmp_path, emulator_factory) -> None:
    emulator = await emulator_factory(scenario=fast(tmp_path, "healthy"))
    cfg = config(session_resumption=types.SessionResumptionConfig(handle="bogus"))
    with pytest.raises(errors.APIError) as err:
        async with emulator.client().aio.live.connect(model=MODEL, config=cfg):
            pass
    assert err.value.code == 1008
    assert "BidiGenerateContent session not found" in str(err.value)


# ---------------------------------------------------------------- the incident


async def test_plain_sdk_client_sees_the_seed_2333_signature(emulator: Emulator) -> None:
    client = emulator.client(scenario="seed-2333")
    async with client.aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec, 2)  # the greeting, then the phantom's empty turn
        for i, name in enumerate(("check_order", "order_number", "transfer_billing")):
            await speak(session, name)
            await rec.wait_turns(3 + i)
        rec.stop()
    turns = rec.turns()
    assert len(audio_chunks(turns[0])) == 11  # gemini_audio_chunks=11
    phantom = turns[1]
    first = next(m.server_content for m in phantom if m.server_content)
    assert first.interrupted is True  # the first thing after the greeting's handle
    assert audio_chunks(phantom) == [] and input_text(phantom) == ""
    for turn, name in zip(
        turns[2:5], ("check_order", "order_number", "transfer_billing"), strict=True
    ):
        assert input_text(turn) == clip_text(name)  # transcription keeps firing
        assert audio_chunks(turn) == []  # ... but the model says nothing
        assert not usage(turn).response_token_count  # zero output tokens
    total_chunks = sum(len(audio_chunks(t)) for t in turns)
    assert total_chunks == 11  # still 11 at the end of the session
    (stats,) = await emulator.wait_closed_sessions()
    assert stats.model_stats.phantom_interrupts == 1
    assert stats.model_stats.wedged_turns == 3


async def _wedged_call(client: Any) -> tuple[Recorder, list[str]]:
    async with client.aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec, 2)
        await speak(session, "check_order")
        await rec.wait_turns(3)
        rec.stop()
    assert audio_chunks(rec.turns()[2]) == []
    return rec, rec.handles()


async def _one_turn(client: Any, cfg: types.LiveConnectConfig, name: str) -> list:
    async with client.aio.live.connect(model=MODEL, config=cfg) as session:
        rec = Recorder(session)
        await speak(session, name)
        await rec.wait_turns(1)
        rec.stop()
    return rec.turns()[0]


async def test_seed_2333_resume_from_handle_before_phantom_answers(
    tmp_path, emulator_factory
) -> None:
    emulator = await emulator_factory(scenario=fast(tmp_path, "seed-2333"))
    client = emulator.client()
    _, handles = await _wedged_call(client)
    await emulator.wait_closed_sessions()
    poisoned = config(session_resumption=types.SessionResumptionConfig(handle=handles[-1]))
    turn = await _one_turn(client, poisoned, "order_number")
    assert audio_chunks(turn) == [] and input_text(turn) == clip_text("order_number")
    await emulator.wait_closed_sessions()
    healthy = config(session_resumption=types.SessionResumptionConfig(handle=handles[0]))
    turn = await _one_turn(client, healthy, "order_number")
    assert output_text(turn) == clip_text("order_shipped")
    assert b"".join(audio_chunks(turn)) == load_clip("order_shipped", 24000).pcm


async def test_poisoned_handle_stays_wedged_fresh_session_answers(
    tmp_path, emulator_factory
) -> None:
    emulator = await emulator_factory(scenario=fast(tmp_path, "poisoned-handle"))
    client = emulator.client()
    _, handles = await _wedged_call(client)
    await emulator.wait_closed_sessions()
    resumed = config(session_resumption=types.SessionResumptionConfig(handle=handles[0]))
    turn = await _one_turn(client, resumed, "order_number")
    assert audio_chunks(turn) == []
    await emulator.wait_closed_sessions()
    async with client.aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        await session.send_client_content(
            turns=[
                types.Content(
                    role="user", parts=[types.Part(text="Hi, I'd like to check my order status.")]
                ),
                types.Content(
                    role="model", parts=[types.Part(text="Sure, what is your order number?")]
                ),
            ],
            turn_complete=False,
        )
        await speak(session, "order_number")
        await rec.wait_turns(1)
        rec.stop()
    assert output_text(rec.turns()[0]) == clip_text("order_shipped")


async def test_resume_while_old_connection_open_is_rejected(tmp_path, emulator_factory) -> None:
    emulator = await emulator_factory(scenario=fast(tmp_path, "healthy"))
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec)
        handle = rec.handles()[-1]
        cfg = config(session_resumption=types.SessionResumptionConfig(handle=handle))
        with pytest.raises(errors.APIError) as err:
            async with client.aio.live.connect(model=MODEL, config=cfg):
                pass
        assert err.value.code == 1008
        rec.stop()


async def test_text_nudge_clears_the_wedge(tmp_path, emulator_factory) -> None:
    emulator = await emulator_factory(scenario=fast(tmp_path, "nudge-clears"))
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec, 2)
        await speak(session, "order_number")
        await rec.wait_turns(3)
        assert audio_chunks(rec.turns()[2]) == []
        await session.send_realtime_input(
            text="The caller said: Yes, my order number is four five six."
        )
        await rec.wait_turns(4)
        rec.stop()
    assert output_text(rec.turns()[3]) == clip_text("order_shipped")


async def test_seed_2333_nudge_does_not_help(tmp_path, emulator_factory) -> None:
    emulator = await emulator_factory(scenario=fast(tmp_path, "seed-2333"))
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec, 2)
        await session.send_realtime_input(text="Yes, my order number is four five six.")
        await rec.wait_turns(3)
        rec.stop()
    assert audio_chunks(rec.turns()[2]) == []


async def test_rejected_turn_complete_reason(tmp_path, emulator_factory) -> None:
    emulator = await emulator_factory(scenario=fast(tmp_path, "rejected"))
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec)
        await speak(session, "check_order")
        await rec.wait_turns(2)
        await speak(session, "order_number")
        await rec.wait_turns(3)
        rec.stop()
    turn = rec.turns()[2]
    done = turn[-1].server_content
    assert done.turn_complete_reason == types.TurnCompleteReason.RESPONSE_REJECTED
    assert audio_chunks(turn) == [] and input_text(turn) == clip_text("order_number")


# ---------------------------------------------------------------- connection faults


async def test_drop_1011_mid_turn_then_resume(tmp_path, emulator_factory) -> None:
    emulator = await emulator_factory(scenario=fast(tmp_path, "drop-1011"))
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec)
        await speak(session, "check_order")
        err = await rec.wait_error()
    assert isinstance(err, errors.APIError) and err.code == 1011
    assert "Internal error encountered." in str(err)
    partial = [m for _, m in rec.messages][len(rec.turns()[0]) :]
    assert len(audio_chunks(partial)) == 3
    handle = rec.handles()[-1]
    await emulator.wait_closed_sessions()
    cfg = config(session_resumption=types.SessionResumptionConfig(handle=handle))
    turn = await _one_turn(client, cfg, "check_order")
    assert output_text(turn) == clip_text("ask_order_number")


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1007, "Request contains an invalid argument."), (1008, "Policy violation.")],
)
async def test_close_codes_at_a_chosen_point(tmp_path, emulator_factory, code, reason) -> None:
    path = scenario_file(
        tmp_path,
        f"name: close-{code}\nfaults:\n  close: {{code: {code}, at_turn: 1, after_chunks: 2}}\n",
    )
    emu = await emulator_factory(scenario=path)
    async with emu.client().aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Greet the caller.")])
        )
        err = await rec.wait_error()
    assert isinstance(err, errors.APIError) and err.code == code and reason in str(err)
    assert len(audio_chunks([m for _, m in rec.messages])) == 2


async def test_goaway_then_close_1008(tmp_path, emulator_factory) -> None:
    path = scenario_file(
        tmp_path, "name: short-life\nconnection: {lifetime_s: 2.0, goaway_time_left_s: 1.5}\n"
    )
    emu = await emulator_factory(scenario=path)
    async with emu.client().aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        err = await rec.wait_error()
    go = [m.go_away for _, m in rec.messages if m.go_away]
    assert [g.time_left for g in go] == ["1.500s"]
    assert isinstance(err, errors.APIError) and err.code == 1008
    assert "GoAway" in str(err)


async def test_slow_setup_and_first_audio_latency(tmp_path, emulator_factory) -> None:
    path = scenario_file(
        tmp_path,
        "name: slowish\nmodel: {first_audio_latency_s: 0.4}\nconnection: {setup_delay_s: 0.5}\n",
    )
    emu = await emulator_factory(scenario=path)
    t0 = time.monotonic()
    async with emu.client().aio.live.connect(model=MODEL, config=config()) as session:
        connected = time.monotonic() - t0
        rec = Recorder(session)
        t1 = time.monotonic()
        await session.send_realtime_input(text="Thanks, that's all.")
        await rec.wait(lambda r: any(audio_chunks([m for _, m in r.messages])), "audio")
        first_audio = next(t for t, m in rec.messages if audio_chunks([m])) - t1
        rec.stop()
    # lower bounds only: the emulator can never be faster than the scenario says
    assert connected >= 0.5
    assert first_audio >= 0.4


async def test_duplicated_transcriptions(tmp_path, emulator_factory) -> None:
    emulator = await emulator_factory(scenario=fast(tmp_path, "duplicate-transcripts"))
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec)
        await speak(session, "thanks_bye")
        await rec.wait_turns(2)
        rec.stop()
    text = input_text(rec.turns()[1])
    assert text == "".join(piece + piece for piece in _fragments(clip_text("thanks_bye")))


def _fragments(text: str) -> list[str]:
    from liveguard.emulator.speech import fragments

    return fragments(text, 2)


async def test_slow_pongs_keep_a_tolerant_client(tmp_path, emulator_factory) -> None:
    path = scenario_file(
        tmp_path, "name: slowpong\nmodel: {playback_speed: 10}\nconnection: {pong_delay_s: 0.6}\n"
    )
    emu = await emulator_factory(scenario=path)
    client = emu.client(async_client_args={"ping_interval": 0.2, "ping_timeout": 3.0})
    async with client.aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        await asyncio.sleep(1.0)
        await greet(session, rec)
        rec.stop()
    assert rec.error is None
    (stats,) = await emu.wait_closed_sessions()
    assert stats.pongs_delayed >= 1 and stats.close_code == 1000


async def test_missing_pongs_drop_a_client_with_keepalive(emulator: Emulator) -> None:
    client = emulator.client(
        scenario="no-pongs", async_client_args={"ping_interval": 0.2, "ping_timeout": 0.5}
    )
    async with client.aio.live.connect(model=MODEL, config=config()) as session:
        rec = Recorder(session)
        err = await rec.wait_error()
    assert isinstance(err, errors.APIError)
    assert err.code in (1006, 1011)  # keepalive timeout: websockets reports 1011
    (stats,) = await emulator.wait_closed_sessions()
    assert stats.pongs_dropped >= 1
