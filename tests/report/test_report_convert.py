"""`liveguard convert`: a dump recorded with a plain google-genai client (no liveguard) from the
emulator's seed-2333 scenario becomes a log the report and replay understand."""

from __future__ import annotations

import asyncio
import json
import time

from google.genai import types

from liveguard import events as ev
from liveguard.audio.clips import load_clip
from liveguard.cli import main
from liveguard.report.convert import convert_file
from liveguard.report.reader import read_log
from liveguard.report.summary import summarize

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"


async def record_dump(emu, path) -> None:
    """What a team's own relay might log: every LiveServerMessage with its receive time."""
    client = emu.client(scenario="seed-2333")
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        session_resumption=types.SessionResumptionConfig(),
    )
    lines: list[str] = []
    turn_completes = 0
    changed = asyncio.Condition()

    async def receive(session) -> None:
        nonlocal turn_completes
        while True:
            async for msg in session.receive():
                dump = msg.model_dump(mode="json", exclude_none=True)
                lines.append(json.dumps({"ts": time.time(), "message": dump}))
                if msg.server_content is not None and msg.server_content.turn_complete:
                    async with changed:
                        turn_completes += 1
                        changed.notify_all()

    async def until(n: int) -> None:
        async with changed:
            await changed.wait_for(lambda: turn_completes >= n)

    async with client.aio.live.connect(model=MODEL, config=config) as session:
        task = asyncio.create_task(receive(session))
        await session.send_realtime_input(text="Greet the caller briefly.")
        # greeting turn_complete, the phantom interrupt, its empty turn_complete
        await asyncio.wait_for(until(2), 20)
        pcm = load_clip("check_order", 16000).pcm + b"\0" * 16000 * 2 * 2  # speech + 2 s silence
        frame = 640
        for i in range(0, len(pcm), frame):
            blob = types.Blob(data=pcm[i : i + frame], mime_type="audio/pcm;rate=16000")
            await session.send_realtime_input(audio=blob)
            await asyncio.sleep(0.02)
        await asyncio.wait_for(until(3), 20)
        task.cancel()
    path.write_text("\n".join(lines) + "\n")


async def test_convert_a_real_sdk_dump_of_seed_2333(emulator, tmp_path, capsys):
    dump = tmp_path / "dump.jsonl"
    await record_dump(emulator, dump)
    out = tmp_path / "converted.jsonl"
    assert (
        main(["convert", str(dump), "-o", str(out), "--session", "team-call", "--model", MODEL])
        == 0
    )
    assert "0 bad" in capsys.readouterr().out
    [session] = read_log(out)
    events = session.events
    tcs = [e for e in events if isinstance(e, ev.TurnComplete)]
    assert [e.turn for e in tcs] == [1, 2, 3]
    assert tcs[0].turn_audio_chunks == 11 == tcs[0].gemini_audio_chunks
    assert [e.gemini_audio_chunks for e in tcs] == [11, 11, 11]
    phantom = next(e for e in events if isinstance(e, ev.Interrupted))
    assert (phantom.last_user_tx, phantom.last_user_tx_age_ms, phantom.turn) == ("", -1, 2)
    assert any(isinstance(e, ev.InputTranscript) for e in events)
    s = summarize(session.session, events, start_wall=session.start_wall)
    assert s.derived and s.phantom_interrupts == 1 and s.phantom_signature == 1
    assert s.unanswered_turns >= 1 and s.outcome == "wedged" and s.gemini_audio_chunks == 11
    assert s.model == MODEL


def test_convert_counts_bad_lines_and_passes_liveguard_records_through(tmp_path):
    dump = tmp_path / "d.jsonl"
    dump.write_text(
        "\n".join(
            [
                json.dumps({"ts": "2025-11-01T10:00:00Z", "message": {"setupComplete": {}}}),
                json.dumps({"ts": "2025-11-01T10:00:01Z", "event": "caller_speech_end"}),
                json.dumps(
                    {
                        "ts": "2025-11-01T10:00:02Z",
                        "message": {"serverContent": {"interrupted": True}},
                    }
                ),
                json.dumps(
                    {
                        "ts": "2025-11-01T10:00:03Z",
                        "message": {
                            "serverContent": {"turnComplete": True},
                            "usageMetadata": {"promptTokenCount": 7},
                        },
                    }
                ),
                json.dumps(
                    {
                        "ts": "2025-11-01T10:00:04Z",
                        "message": {"serverContent": {"interrupted": "very"}},
                    }
                ),
                "not json",
                json.dumps({"message": {}}),
            ]
        )
        + "\n"
    )
    path, stats = convert_file(dump, tmp_path / "out.jsonl", session_id="x")
    assert (stats.messages, stats.bad_lines) == (3, 3)
    [session] = read_log(path)
    names = [e.name for e in session.events]
    assert names == [
        "session_start",
        "caller_speech_end",
        "interrupted",
        "usage",
        "turn_complete",
        "session_end",
    ]
    assert session.events[-1].input_tokens == 7
    assert session.start_wall == 1761991200.0
