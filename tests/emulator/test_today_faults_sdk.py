"""Today's faults (the silent calls users report in 2026) through the real google-genai SDK.

Each test runs a built-in scenario with its fault intact but quick timing (10x playback, short
latencies) against the emulator over TLS, on more than one model profile where the fault applies
to any. What is asserted is what a plain SDK application sees on the wire.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.genai import errors, types
from sdk_harness import Recorder, audio_chunks, config, greet, input_text, output_text, speak

from liveguard.audio.clips import clip_text, load_clip
from liveguard.emulator.scenario import Dist, load_scenario
from liveguard.emulator.speech import mean_abs

PROFILES = ["gemini-3.8-live", "gemini-2.5-flash-native-audio-preview-12-2025"]
ALL_PROFILES = [
    *PROFILES,
    "gemini-3.1-flash-live-preview",
    "gemini-3.8-live-extended-thinking",
]


def quick(tmp_path: Path, name: str, playback: float = 10.0, **faults: dict[str, Any]) -> Path:
    """Built-in scenario `name` with quick timing; `faults` updates fields of its fault entries."""
    s = load_scenario(name)
    model = s.model.model_copy(
        update={
            "playback_speed": playback,
            "first_audio_latency_s": Dist(fixed=0.05),
            "transcription_delay_s": 0.02,
        }
    )
    updates = {
        key: getattr(s.faults, key).model_copy(update=fields) for key, fields in faults.items()
    }
    fast = s.model_copy(update={"model": model, "faults": s.faults.model_copy(update=updates)})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(fast.model_dump(mode="json")))
    return path


def turn_audio(turn: list[types.LiveServerMessage]) -> bytes:
    return b"".join(audio_chunks(turn))


def statuses(turns: list[list[types.LiveServerMessage]]) -> list[str | None]:
    out = []
    for turn in turns:
        last = turn[-1].server_content
        out.append(last.interaction_status.value if last.interaction_status else None)
    return out


def last_content(turn: list[types.LiveServerMessage]) -> types.LiveServerContent:
    return turn[-1].server_content


async def wait_quiet(rec: Recorder, seconds: float) -> int:
    """Let `seconds` pass; the number of messages that arrived meanwhile."""
    before = len(rec.messages)
    await asyncio.sleep(seconds)
    return len(rec.messages) - before


async def call(
    emu: Any, model: str, said: tuple[str, ...], cfg: Any = None, hello: bool = True
) -> Recorder:
    """One call: greet (unless `hello` is off), say each clip of `said` and wait for its answer."""
    async with emu.client().aio.live.connect(model=model, config=cfg or config()) as session:
        rec = Recorder(session)
        if hello:
            await greet(session, rec)
        for n, name in enumerate(said, start=2 if hello else 1):
            await speak(session, name)
            await rec.wait_turns(n)
        rec.stop()
    return rec


async def resumed_answer(emu: Any, model: str, handle: str | None) -> str:
    """What the model says to "opening_hours" on a call resumed with `handle`."""
    resumed = config(session_resumption=types.SessionResumptionConfig(handle=handle))
    rec = await call(emu, model, ("opening_hours",), cfg=resumed, hello=False)
    return output_text(rec.turns()[0])


# ---------------------------------------------------------------- a single silent stall


@pytest.mark.parametrize("model", ALL_PROFILES)
async def test_single_silent_stall(model, tmp_path, emulator_factory) -> None:
    emu = await emulator_factory(scenario=quick(tmp_path, "silent-stall"))
    rec = await call(emu, model, ("check_order", "opening_hours", "thanks_bye"))
    _, answered, stalled, after = rec.turns()[:4]
    assert turn_audio(answered) and turn_audio(after)
    assert input_text(stalled) == clip_text("opening_hours")
    assert turn_audio(stalled) == b"" and output_text(stalled) == ""
    end = last_content(stalled)
    assert end.turn_complete and end.turn_complete_reason is None
    assert not any(m.server_content.interrupted for m in stalled if m.server_content)
    assert output_text(after) == clip_text("goodbye")
    (stats,) = await emu.wait_closed_sessions()
    assert stats.model_stats.empty_turns == 1


# ---------------------------------------------------------------- inaudible answers


@pytest.mark.parametrize("model", PROFILES)
async def test_inaudible_answers_at_the_chosen_level(model, tmp_path, emulator_factory) -> None:
    emu = await emulator_factory(scenario=quick(tmp_path, "inaudible-answers"))
    rec = await call(emu, model, ("check_order", "order_number", "opening_hours"))
    greeting, quiet1, quiet2, loud = rec.turns()[:4]
    for turn, reply in ((quiet1, "ask_order_number"), (quiet2, "order_shipped")):
        pcm = turn_audio(turn)
        assert len(pcm) == len(load_clip(reply, 24000).pcm)  # full length
        assert abs(mean_abs(pcm) - 18) < 1.0
        assert output_text(turn) == clip_text(reply)  # the transcript claims speech
    assert mean_abs(turn_audio(greeting)) > 1000 and mean_abs(turn_audio(loud)) > 1000


# ---------------------------------------------------------------- RESPONSE_REJECTED runs


@pytest.mark.parametrize("model", PROFILES)
async def test_response_rejected_run_until_a_resume(model, tmp_path, emulator_factory) -> None:
    emu = await emulator_factory(scenario=quick(tmp_path, "response-rejected-run"))
    rec = await call(emu, model, ("check_order", "opening_hours", "still_there"))
    handle = rec.handles()[-1]
    said_turns = ("check_order", "opening_hours", "still_there")
    for turn, said in zip(rec.turns()[1:4], said_turns, strict=True):
        end = last_content(turn)
        assert end.turn_complete_reason == types.TurnCompleteReason.RESPONSE_REJECTED
        assert turn_audio(turn) == b""
        assert input_text(turn) == clip_text(said)  # transcription keeps working
    assert await resumed_answer(emu, model, handle) == clip_text("closing_time")


# ---------------------------------------------------------------- answer cut mid-sentence


@pytest.mark.parametrize("model", PROFILES)
async def test_answer_cut_mid_sentence(model, tmp_path, emulator_factory) -> None:
    emu = await emulator_factory(scenario=quick(tmp_path, "cut-answer"))
    rec = await call(emu, model, ("check_order", "opening_hours"))
    cut, whole = rec.turns()[1:3]
    full = load_clip("ask_order_number", 24000).pcm
    pcm = turn_audio(cut)
    assert full.startswith(pcm) and 0.35 < len(pcm) / len(full) < 0.6
    words = output_text(cut)
    assert words and clip_text("ask_order_number").startswith(words)
    assert words != clip_text("ask_order_number")
    assert last_content(cut).turn_complete and last_content(cut).turn_complete_reason is None
    assert output_text(whole) == clip_text("closing_time")


# ---------------------------------------------------------------- freeze after a barge-in


@pytest.mark.parametrize("model", PROFILES)
async def test_freeze_after_barge_in_until_a_resume(model, tmp_path, emulator_factory) -> None:
    emu = await emulator_factory(scenario=quick(tmp_path, "freeze-after-barge-in", playback=1.0))
    async with emu.client().aio.live.connect(model=model, config=config()) as session:
        rec = Recorder(session)
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Greet the caller.")])
        )
        await rec.wait(lambda r: any(audio_chunks([m for _, m in r.messages])), "greeting audio")
        await speak(session, "still_there", lead_s=0.0)  # barges in on the greeting
        await rec.wait(lambda r: any(c.interrupted for c in r.contents()), "interrupted")
        await rec.wait(lambda r: input_text([m for _, m in r.messages]), "the caller's words")
        mark = len(rec.messages)
        await speak(session, "opening_hours")
        await rec.wait(
            lambda r: clip_text("opening_hours") in input_text([m for _, m in r.messages]),
            "the second utterance transcribed",
        )
        await asyncio.sleep(1.0)
        rec.stop()
    later = [m for _, m in rec.messages[mark:]]
    assert not audio_chunks(later)
    assert not any(m.server_content.turn_complete for m in later if m.server_content)
    handle = rec.handles()[-1]
    (stats,) = await emu.wait_closed_sessions()
    assert stats.model_stats.frozen
    assert await resumed_answer(emu, model, handle) == clip_text("closing_time")


# ---------------------------------------------------------------- background phases


@pytest.mark.parametrize("model", ALL_PROFILES)
async def test_background_phase_of_a_chosen_length(model, tmp_path, emulator_factory) -> None:
    scenario = quick(tmp_path, "background-phase", background_phase={"seconds": Dist(fixed=0.8)})
    emu = await emulator_factory(scenario=scenario)
    async with emu.client().aio.live.connect(model=model, config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec)
        await speak(session, "check_order")
        await rec.wait(lambda r: r.turn_completes() >= 3, "filler, then the answer")
        rec.stop()
    greeting, filler, answer = rec.turns()[:3]
    idle = "IDLE" if model.startswith("gemini-3.8") else None
    assert statuses([greeting, filler, answer]) == [idle, "IN_PROGRESS", "IDLE"]
    assert output_text(filler) == clip_text("still_here")
    assert output_text(answer) == clip_text("ask_order_number")
    t_in_progress = next(t for t, m in rec.messages if m is filler[-1])
    t_next = next(t for t, m in rec.messages if t > t_in_progress)
    assert t_next - t_in_progress >= 0.75  # nothing at all during the phase


@pytest.mark.parametrize("model", PROFILES)
async def test_in_progress_that_never_ends(model, tmp_path, emulator_factory) -> None:
    emu = await emulator_factory(scenario=quick(tmp_path, "endless-in-progress"))
    async with emu.client().aio.live.connect(model=model, config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec)
        await speak(session, "check_order")
        await rec.wait_turns(2)
        assert await wait_quiet(rec, 1.0) == 0
        await speak(session, "still_there")  # "hello?" gets nothing either
        await asyncio.sleep(1.0)
        rec.stop()
    filler = rec.turns()[1]
    assert statuses([filler]) == ["IN_PROGRESS"] and turn_audio(filler)
    assert rec.turn_completes() == 2 and len(rec.turns()) == 2
    (stats,) = await emu.wait_closed_sessions()
    assert stats.model_stats.background_phases == 1
    assert stats.model_stats.transcripts[-1] == clip_text("still_there")


# ---------------------------------------------------------------- setup, resume, deadline


async def test_setup_complete_never_arrives_then_a_retry_works(tmp_path, emulator_factory) -> None:
    emu = await emulator_factory(scenario=quick(tmp_path, "setup-never-completes"))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.0):
            async with emu.client().aio.live.connect(model="gemini-3.8-live", config=config()):
                pass
    async with emu.client().aio.live.connect(model="gemini-3.8-live", config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec)
        rec.stop()
    first, second = await emu.wait_closed_sessions()
    assert first.model_stats.setup_stalled and not first.setup_complete
    assert second.setup_complete


async def test_setup_stall_only_with_the_named_setup_fields(tmp_path, emulator_factory) -> None:
    emu = await emulator_factory(scenario=quick(tmp_path, "setup-stall-affective"))
    model = "gemini-3.1-flash-live-preview"
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.0):
            cfg = config(enable_affective_dialog=True)
            async with emu.client().aio.live.connect(model=model, config=cfg):
                pass
    async with emu.client().aio.live.connect(model=model, config=config()):
        pass
    stalled, fine = await emu.wait_closed_sessions()
    assert stalled.model_stats.setup_stalled and fine.setup_complete


async def test_resume_rejected_1011_while_the_old_connection_is_open(
    tmp_path, emulator_factory
) -> None:
    emu = await emulator_factory(scenario=quick(tmp_path, "resume-rejected-1011"))
    client = emu.client()
    async with client.aio.live.connect(model="gemini-3.8-live", config=config()) as old:
        rec = Recorder(old)
        await greet(old, rec)
        handle = rec.handles()[-1]
        resumed = config(session_resumption=types.SessionResumptionConfig(handle=handle))
        with pytest.raises(errors.APIError) as exc:
            async with client.aio.live.connect(model="gemini-3.8-live", config=resumed):
                pass
        assert exc.value.code == 1011 and exc.value.details == "Internal error encountered."
        rec.stop()
    assert await resumed_answer(emu, "gemini-3.8-live", handle) == clip_text("closing_time")


async def test_deadline_expired_1011_at_the_chosen_minute(tmp_path, emulator_factory) -> None:
    assert load_scenario("deadline-1011").faults.close.at_s == 58 * 60
    scenario = quick(tmp_path, "deadline-1011", close={"at_s": 1.5})
    emu = await emulator_factory(scenario=scenario)
    async with emu.client().aio.live.connect(model="gemini-3.8-live", config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec)
        err = await rec.wait_error()
    assert isinstance(err, errors.APIError)
    assert err.code == 1011 and err.details == "Deadline expired"
    (stats,) = await emu.wait_closed_sessions()
    assert stats.close_code == 1011 and stats.close_side == "server"
