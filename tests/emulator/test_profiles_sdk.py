"""The real google-genai SDK against each model profile of the emulator, over TLS.

One test per wire rule a family has (see liveguard/emulator/profiles.py): interactionStatus,
several parts in one message, the setup fields 3.8 refuses, audioStreamEnd, clientContent,
polite hold-back, extended thinking's background phases, the model catalogue per platform and the
Vertex AI path. Scenarios run at 10x playback with short latencies; real speech clips throughout.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from google.genai import errors, types
from sdk_harness import (
    Recorder,
    audio_chunks,
    config,
    greet,
    greeted_call,
    input_text,
    output_text,
    speak,
)

from liveguard.audio.clips import clip_text, load_clip
from liveguard.emulator.server import Emulator

QUICK = """
model:
  playback_speed: 10.0
  first_audio_latency_s: 0.05
  transcription_delay_s: 0.02
"""
GEMINI_MODELS = {
    "gemini-2.5-flash-native-audio-preview-12-2025": "2.5-native-audio",
    "gemini-3.1-flash-live-preview": "3.1-flash-live",
    "gemini-3.8-live": "3.8-live",
    "gemini-3.8-live-extended-thinking": "3.8-extended-thinking",
}
STATUS_MODELS = {"gemini-3.8-live", "gemini-3.8-live-extended-thinking"}


async def quick_emulator(
    factory: Any, tmp_path: Path, extra: str = "", name: str = "q"
) -> Emulator:
    """An emulator whose default scenario is QUICK (+ `extra` YAML under `model:`/`faults:`)."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\n{QUICK}{extra}")
    return await factory(scenario=path)


def statuses(rec: Recorder) -> list[str | None]:
    """interactionStatus of every turnComplete, in order (None where absent)."""
    return [
        c.interaction_status.value if c.interaction_status else None
        for c in rec.contents()
        if c.turn_complete
    ]


def both_in_one(rec: Recorder) -> int:
    """Messages that carry audio and output transcription together."""
    return sum(
        1
        for c in rec.contents()
        if c.model_turn and c.output_transcription and audio_chunks([_msg(c)])
    )


def _msg(content: types.LiveServerContent) -> types.LiveServerMessage:
    return types.LiveServerMessage(server_content=content)


# ---------------------------------------------------------------- each profile, one conversation


@pytest.mark.parametrize("model", sorted(GEMINI_MODELS))
async def test_healthy_conversation_on_each_profile(model, tmp_path, emulator_factory) -> None:
    emu = await quick_emulator(emulator_factory, tmp_path)
    async with greeted_call(emu.client(), model) as (session, rec):
        await speak(session, "check_order")
        await rec.wait_turns(2)
        rec.stop()
    greeting, answer = rec.turns()[:2]
    assert output_text(greeting) == clip_text("greeting")
    assert input_text(answer) == clip_text("check_order")
    assert output_text(answer) == clip_text("ask_order_number")
    assert b"".join(audio_chunks(answer)) == load_clip("ask_order_number", 24000).pcm
    if model in STATUS_MODELS:
        assert statuses(rec) == ["IDLE", "IDLE"]
    else:
        assert statuses(rec) == [None, None]
    combined = both_in_one(rec)
    if model == "gemini-3.1-flash-live-preview":
        # every transcript fragment rides with an audio chunk
        fragments = [c for c in rec.contents() if c.output_transcription]
        assert combined == len(fragments) > 0
    else:
        assert combined == 0
    (stats,) = await emu.wait_closed_sessions()
    assert stats.model_stats.profile == GEMINI_MODELS[model]


async def test_sdk_receive_spans_until_idle_on_3_8(tmp_path, emulator_factory) -> None:
    """The SDK's receive() ends a turn on IDLE; 3.8 always sends it beside turnComplete."""
    emu = await quick_emulator(emulator_factory, tmp_path)
    async with emu.client().aio.live.connect(model="gemini-3.8-live", config=config()) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Greet the caller.")])
        )
        got = [m async for m in session.receive()]
    last = got[-1].server_content
    assert last.turn_complete and last.interaction_status == types.InteractionStatus.IDLE


# ---------------------------------------------------------------- setup rules


@pytest.mark.parametrize(
    ("field", "cfg", "named"),
    [
        (
            "thinking",
            {"thinking_config": types.ThinkingConfig(thinking_budget=0)},
            "thinkingConfig",
        ),
        (
            "proactivity",
            {"proactivity": types.ProactivityConfig(proactive_audio=False)},
            "proactiveAudio=false",
        ),
        ("affective", {"enable_affective_dialog": True}, "enableAffectiveDialog"),
    ],
)
@pytest.mark.parametrize("model", ["gemini-3.8-live", "gemini-3.8-live-extended-thinking"])
async def test_3_8_refuses_setup_fields_naming_them(
    model, field, cfg, named, emulator: Emulator
) -> None:
    with pytest.raises(errors.APIError) as exc:
        async with emulator.client().aio.live.connect(model=model, config=config(**cfg)):
            pass
    assert exc.value.code == 1007
    assert named in exc.value.details and model in exc.value.details
    assert len(exc.value.details.encode()) <= 123


async def test_3_8_accepts_proactive_audio_true(emulator: Emulator) -> None:
    cfg = config(proactivity=types.ProactivityConfig(proactive_audio=True))
    async with emulator.client().aio.live.connect(model="gemini-3.8-live", config=cfg):
        pass
    (stats,) = await emulator.wait_closed_sessions()
    assert stats.setup_complete and stats.close_code == 1000


async def test_3_1_accepts_thinking_level_and_2_5_affective_dialog(emulator: Emulator) -> None:
    thinking = config(thinking_config=types.ThinkingConfig(thinking_level="LOW"))
    async with emulator.client().aio.live.connect(
        model="gemini-3.1-flash-live-preview", config=thinking
    ):
        pass
    affective = config(enable_affective_dialog=True)
    async with emulator.client().aio.live.connect(
        model="gemini-2.5-flash-native-audio-preview-12-2025", config=affective
    ):
        pass
    stats = await emulator.wait_closed_sessions()
    assert [s.setup_complete for s in stats] == [True, True]


# ---------------------------------------------------------------- models per platform


@pytest.mark.parametrize(
    "model",
    [
        "gemini-2.5-flash-native-audio-preview-09-2025",  # retired 2026-03-19
        "gemini-live-2.5-flash-native-audio",  # a Vertex AI name
        "gemini-2.0-flash-live-001",
        "gemini-nope-live",
    ],
)
async def test_gemini_api_refuses_models_it_does_not_serve(model, emulator: Emulator) -> None:
    with pytest.raises(errors.APIError) as exc:
        async with emulator.client().aio.live.connect(model=model, config=config()):
            pass
    assert exc.value.code == 1008
    assert exc.value.details.startswith(f"models/{model} is not found for API version v1beta")


@pytest.mark.parametrize(
    ("model", "profile"),
    [("gemini-3.8-live", "3.8-live"), ("gemini-live-2.5-flash-native-audio", "2.5-native-audio")],
)
async def test_vertex_client_with_project_location_and_credentials(
    model, profile, tmp_path, emulator_factory
) -> None:
    emu = await quick_emulator(emulator_factory, tmp_path)
    client = emu.vertex_client(project="acme-voice", location="europe-west4")
    async with greeted_call(client, model) as (session, rec):
        await speak(session, "opening_hours")
        await rec.wait_turns(2)
        rec.stop()
    answer = rec.turns()[1]
    assert output_text(answer) == clip_text("closing_time")
    (stats,) = await emu.wait_closed_sessions()
    assert stats.vertex and stats.api_version == "v1beta1"
    assert stats.path.endswith(
        "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    )
    assert stats.model == (
        f"projects/acme-voice/locations/europe-west4/publishers/google/models/{model}"
    )
    assert stats.model_stats.profile == profile
    assert statuses(rec) == (["IDLE", "IDLE"] if profile == "3.8-live" else [None, None])


@pytest.mark.parametrize(
    "model", ["gemini-3.1-flash-live-preview", "gemini-2.5-flash-native-audio-preview-12-2025"]
)
async def test_vertex_refuses_gemini_api_only_models(model, emulator: Emulator) -> None:
    with pytest.raises(errors.APIError) as exc:
        async with emulator.vertex_client().aio.live.connect(model=model, config=config()):
            pass
    assert exc.value.code == 1008
    assert exc.value.details.startswith("Publisher model `projects/liveguard-emulator/")


# ---------------------------------------------------------------- 3.8 turn-taking


async def _speech_without_trailing_audio(session: Any, name: str) -> None:
    pcm = bytes(6400) + load_clip(name).pcm
    for i in range(0, len(pcm), 640):
        await session.send_realtime_input(
            audio=types.Blob(data=pcm[i : i + 640], mime_type="audio/pcm;rate=16000")
        )
    await session.send_realtime_input(audio_stream_end=True)


@pytest.mark.parametrize(
    "model", ["gemini-3.8-live", "gemini-2.5-flash-native-audio-preview-12-2025"]
)
async def test_audio_stream_end_ends_the_turn_only_before_3_8(
    model, tmp_path, emulator_factory
) -> None:
    emu = await quick_emulator(emulator_factory, tmp_path)
    async with greeted_call(emu.client(), model) as (session, rec):
        await _speech_without_trailing_audio(session, "opening_hours")
        if model == "gemini-3.8-live":
            await asyncio.sleep(1.0)  # the 2.5 profile answers well within this (10x playback)
            assert rec.turn_completes() == 1 and not input_text([m for _, m in rec.messages])
            await speak(session, "opening_hours", lead_s=0.0, tail_s=0.0, speed=1000)
            await speak(session, "thanks_bye", lead_s=0.0, tail_s=0.8)  # trailing audio ends it
        await rec.wait_turns(2)
        rec.stop()
    assert output_text(rec.turns()[1])


@pytest.mark.parametrize(
    ("model", "interrupted"),
    [("gemini-3.8-live", False), ("gemini-2.5-flash-native-audio-preview-12-2025", True)],
)
async def test_client_content_without_turn_complete_interrupts_only_before_3_8(
    model, interrupted, emulator: Emulator
) -> None:
    """On 3.8 content without turnComplete waits; turnComplete: true interrupts on both."""
    async with emulator.client().aio.live.connect(model=model, config=config()) as session:
        rec = Recorder(session)
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Greet the caller.")])
        )
        await rec.wait(lambda r: any(audio_chunks([m for _, m in r.messages])), "greeting audio")
        await session.send_client_content(
            turns=[
                types.Content(role="model", parts=[types.Part(text="Hello there.")]),
                types.Content(role="user", parts=[types.Part(text=clip_text("opening_hours"))]),
            ],
            turn_complete=False,
        )
        await asyncio.sleep(0.3)
        got = any(c.interrupted for c in rec.contents())
        assert got == interrupted
        await session.send_client_content(turn_complete=True)
        await rec.wait(lambda r: any(c.interrupted for c in r.contents()), "interrupted")
        await rec.wait(
            lambda r: clip_text("closing_time") in output_text([m for _, m in r.messages]),
            "the answer to the seeded question",
        )
        rec.stop()


async def test_3_8_holds_back_while_the_caller_speaks(tmp_path, emulator_factory) -> None:
    """An answer due while the caller talks starts only once the caller's turn has ended."""
    extra = """  background_work: {on_utterances: [check_order], background_s: 0.3}
"""
    emu = await quick_emulator(emulator_factory, tmp_path, extra)
    async with greeted_call(emu.client(), "gemini-3.8-live-extended-thinking") as (session, rec):
        await speak(session, "check_order")
        await rec.wait(lambda r: "IN_PROGRESS" in statuses(r), "IN_PROGRESS")
        mark = len(rec.messages)
        # "Hello? Are you still there?" at real time: 1.9 s of speech, longer than the phase
        await speak(session, "still_there", lead_s=0.0, tail_s=0.0, speed=1.0)
        speech_end = time.monotonic()
        await speak(session, "still_there", lead_s=0.0, tail_s=1.0, speed=1.0)  # silence after
        await rec.wait(lambda r: statuses(r).count("IDLE") >= 3, "the answer and the follow-up")
        rec.stop()
    later = rec.messages[mark:]
    first_audio = next(t for t, m in later if audio_chunks([m]))
    assert first_audio > speech_end
    (stats,) = await emu.wait_closed_sessions()
    assert stats.model_stats.held_back == 1


# ---------------------------------------------------------------- extended thinking


async def test_extended_thinking_background_phases(tmp_path, emulator_factory) -> None:
    extra = """  background_work: {on_utterances: [check_order], background_s: 0.6, phases: 2}
"""
    emu = await quick_emulator(emulator_factory, tmp_path, extra)
    async with greeted_call(emu.client(), "gemini-3.8-live-extended-thinking") as (session, rec):
        await speak(session, "opening_hours")  # not marked: answered straight away
        await rec.wait_turns(2)
        await speak(session, "check_order")  # marked: filler, work, filler, work, answer
        await rec.wait(lambda r: statuses(r).count("IDLE") >= 3, "IDLE after the work")
        rec.stop()
    assert statuses(rec) == ["IDLE", "IDLE", "IN_PROGRESS", "IN_PROGRESS", "IDLE"]
    turns = rec.turns()
    assert [output_text(t) for t in turns[2:]] == [
        clip_text("still_here"),
        clip_text("still_here"),
        clip_text("ask_order_number"),
    ]
    # the background phases: nothing at all between an IN_PROGRESS and the next spoken part
    times = [t for t, _ in rec.messages]
    for n in (2, 3):
        done = next(i for i, (_, m) in enumerate(rec.messages) if m in turns[n][-1:])
        gap = times[done + 1] - times[done]
        assert 0.5 <= gap, f"phase {n - 1} lasted {gap:.2f} s"
    (stats,) = await emu.wait_closed_sessions()
    assert stats.model_stats.background_phases == 2


async def test_vertex_2_5_ga_is_regional(emulator: Emulator) -> None:
    model = "gemini-live-2.5-flash-native-audio"
    with pytest.raises(errors.APIError) as exc:
        client = emulator.vertex_client(location="global")
        async with client.aio.live.connect(model=model, config=config()):
            pass
    assert exc.value.code == 1008 and "locations/global/" in exc.value.details
    async with emulator.vertex_client(location="us-east5").aio.live.connect(
        model=model, config=config()
    ):
        pass


async def test_3_1_function_calls_are_synchronous(tmp_path, emulator_factory) -> None:
    """On 3.1 the model waits for the toolResponse before it says anything, even for a tool
    declared NON_BLOCKING (3.1 has synchronous function calls only)."""
    extra = """  tool_call: {function: lookup_order, on_utterance: order_number}
"""
    emu = await quick_emulator(emulator_factory, tmp_path, extra)
    decl = types.FunctionDeclaration(
        name="lookup_order", description="Find an order", behavior=types.Behavior.NON_BLOCKING
    )
    cfg = config(tools=[types.Tool(function_declarations=[decl])])
    async with emu.client().aio.live.connect(
        model="gemini-3.1-flash-live-preview", config=cfg
    ) as session:
        rec = Recorder(session)
        await greet(session, rec)
        await speak(session, "order_number")
        await rec.wait(lambda r: any(m.tool_call for _, m in r.messages), "toolCall")
        mark = len(rec.messages)
        await asyncio.sleep(0.8)  # a NON_BLOCKING model would go on talking here
        assert not audio_chunks([m for _, m in rec.messages[mark:]])
        assert rec.turn_completes() == 1
        call = next(m.tool_call for _, m in rec.messages if m.tool_call).function_calls[0]
        await session.send_tool_response(
            function_responses=[
                types.FunctionResponse(id=call.id, name=call.name, response={"ok": True})
            ]
        )
        await rec.wait_turns(2)
        rec.stop()
    assert output_text(rec.turns()[1]) == clip_text("order_shipped")
