"""Helpers for the fast-path tests: one real SDK conversation and one relay call against the
emulator, and the seam's warnings."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from google.genai import types

from liveguard.audio.clips import load_clip
from liveguard.caller.simulated import run_call
from liveguard.emulator.server import Emulator, SessionStats
from liveguard.fastpath.sdk_parse import ModelAudioChunk
from liveguard.relay.server import Relay
from liveguard.session.upstream import UpstreamConnection

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"


@dataclass
class Conversation:
    """What one `UpstreamConnection` did against the emulator."""

    lean: bool  # UpstreamConnection.lean
    lean_read: bool  # messages came off the SDK's socket, parsed by the lean wire
    written_now: int  # caller frames try_send_audio took
    audio_chunks: int  # model audio messages received
    lean_chunks: int  # ... of which the lean parser made ModelAudioChunk
    sent_bytes: int  # caller audio bytes sent
    stats: SessionStats  # the emulator's view of the session


async def converse(emu: Emulator, scenario: str | None = None) -> Conversation:
    """Open a connection, send 1 s of speech at 16 kHz and a text turn, read until the answer's
    turnComplete, close; the emulator must have received every caller byte."""
    up = UpstreamConnection(
        emu.client(scenario), MODEL, types.LiveConnectConfig(response_modalities=["AUDIO"])
    )
    await up.open()
    try:
        pcm = load_clip("check_order", 16000).pcm[: 640 * 50]
        frames = [pcm[i : i + 640] for i in range(0, len(pcm), 640)]
        written_now = 0
        for i, frame in enumerate(frames):
            if i % 2 and up.try_send_audio(frame, 16000):
                written_now += 1
            else:
                await up.send_audio(frame, 16000)
        await up.send_text("What are your opening hours?")
        chunks = lean_chunks = 0
        async with asyncio.timeout(20):
            async for msg in up.messages():
                if isinstance(msg, ModelAudioChunk):
                    chunks += 1
                    lean_chunks += 1
                    continue
                content = msg.server_content
                if content and content.model_turn and content.model_turn.parts:
                    chunks += any(p.inline_data for p in content.model_turn.parts)
                if content and content.turn_complete and chunks:
                    break
        stats = emu.sessions[-1]
        sent = sum(len(f) for f in frames)
        for _ in range(200):
            if stats.audio_bytes_received >= sent:
                break
            await asyncio.sleep(0.01)
        return Conversation(
            lean=up.lean,
            lean_read=up._ws is not None,
            written_now=written_now,
            audio_chunks=chunks,
            lean_chunks=lean_chunks,
            sent_bytes=sent,
            stats=stats,
        )
    finally:
        await up.close()


async def relay_call_answered(relay: Relay) -> None:
    """One phone call through the relay: greeted, one turn, answered, nothing lost."""
    result = await run_call(relay.twilio_url, "quick")
    assert result.summary["greeting_heard_s"] > 1.0
    assert result.summary["answered"] == 1 and result.summary["unanswered"] == 0
    assert len(result.heard) > 8000  # μ-law the caller actually heard
    assert not result.errors


def fastpath_warnings(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    """The seam's WARNING lines about shortcut `name`."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "liveguard.fastpath"
        and r.levelname == "WARNING"
        and f"fast path {name} is off" in r.getMessage()
    ]
