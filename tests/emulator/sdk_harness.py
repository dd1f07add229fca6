"""The real google-genai SDK against the emulator: a message recorder, caller speech, scenarios.

Shared by the SDK test files of this folder. Caller audio is real shipped speech sent as 20 ms
frames, faster than real time where the behaviour allows it (the emulator's activity detection runs
on audio time, not wall-clock time). Timeouts are safety nets against hangs, never assertions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from google.genai import types

from liveguard.audio.clips import load_clip
from liveguard.emulator.scenario import Dist, load_scenario

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
FRAME = 640  # 20 ms at 16 kHz
SAFETY_S = 30.0


def config(**extra: Any) -> types.LiveConnectConfig:
    base: dict[str, Any] = {
        "response_modalities": ["AUDIO"],
        "input_audio_transcription": {},
        "output_audio_transcription": {},
        "session_resumption": types.SessionResumptionConfig(),
    }
    base.update(extra)
    return types.LiveConnectConfig(**base)


class Recorder:
    """Reads everything the session receives, across turns, until the connection ends."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.messages: list[tuple[float, types.LiveServerMessage]] = []
        self.error: BaseException | None = None
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                async for msg in self.session.receive():
                    self.messages.append((time.monotonic(), msg))
                    self._changed.set()
        except Exception as exc:  # the connection ended: APIError carries code and reason
            self.error = exc
            self._changed.set()

    async def wait(self, pred: Callable[[Recorder], bool], what: str) -> None:
        async with asyncio.timeout(SAFETY_S):
            while not pred(self):
                if self.error is not None and not pred(self):
                    raise AssertionError(f"connection ended while waiting for {what}: {self.error}")
                self._changed.clear()
                await self._changed.wait()

    async def wait_turns(self, n: int) -> None:
        await self.wait(lambda r: r.turn_completes() >= n, f"{n} turnComplete")

    async def wait_error(self) -> BaseException:
        async with asyncio.timeout(SAFETY_S):
            while self.error is None:
                self._changed.clear()
                await self._changed.wait()
        return self.error

    def stop(self) -> None:
        self._task.cancel()

    # --- reading

    def contents(self) -> list[types.LiveServerContent]:
        return [m.server_content for _, m in self.messages if m.server_content]

    def turn_completes(self) -> int:
        return sum(1 for c in self.contents() if c.turn_complete)

    def turns(self) -> list[list[types.LiveServerMessage]]:
        groups: list[list[types.LiveServerMessage]] = [[]]
        for _, m in self.messages:
            groups[-1].append(m)
            if m.server_content and m.server_content.turn_complete:
                groups.append([])
        return groups[:-1]

    def handles(self) -> list[str]:
        return [
            m.session_resumption_update.new_handle
            for _, m in self.messages
            if m.session_resumption_update and m.session_resumption_update.new_handle
        ]


def audio_chunks(turn: list[types.LiveServerMessage]) -> list[bytes]:
    out = []
    for m in turn:
        sc = m.server_content
        if sc and sc.model_turn:
            for part in sc.model_turn.parts or []:
                if part.inline_data and part.inline_data.data:
                    out.append(part.inline_data.data)
    return out


def input_text(turn: list[types.LiveServerMessage]) -> str:
    return "".join(
        m.server_content.input_transcription.text or ""
        for m in turn
        if m.server_content and m.server_content.input_transcription
    )


def output_text(turn: list[types.LiveServerMessage]) -> str:
    return "".join(
        m.server_content.output_transcription.text or ""
        for m in turn
        if m.server_content and m.server_content.output_transcription
    )


def usage(turn: list[types.LiveServerMessage]) -> types.UsageMetadata:
    return next(m.usage_metadata for m in reversed(turn) if m.usage_metadata)


async def speak(session: Any, name: str, *, lead_s=0.3, tail_s=0.7, speed=10.0) -> int:
    """Send a shipped utterance as 20 ms frames, `speed` times real time; returns frames sent."""
    pcm = bytes(int(lead_s * 32000)) + load_clip(name).pcm + bytes(int(tail_s * 32000))
    frames = 0
    for i in range(0, len(pcm), FRAME):
        await session.send_realtime_input(
            audio=types.Blob(data=pcm[i : i + FRAME], mime_type="audio/pcm;rate=16000")
        )
        frames += 1
        if frames % 5 == 0:
            await asyncio.sleep(0.1 / speed)
    return frames


async def greet(session: Any, rec: Recorder, n: int = 1) -> None:
    await session.send_client_content(
        turns=types.Content(role="user", parts=[types.Part(text="Greet the caller.")]),
        turn_complete=True,
    )
    await rec.wait_turns(n)


@asynccontextmanager
async def greeted_call(client: Any, model: str) -> AsyncIterator[tuple[Any, Recorder]]:
    """A live session of `model` (default config) that has had its greeting, and its recorder."""
    async with client.aio.live.connect(model=model, config=config()) as session:
        rec = Recorder(session)
        await greet(session, rec)
        yield session, rec


def fast(tmp_path: Path, name: str) -> Path:
    """A built-in scenario with its faults intact but quick timing (playback 10x, short delays).

    The emulator's default scenario can be a file, so tests start one emulator per fast scenario.
    Only `test_plain_sdk_client_sees_the_seed_2333_signature` and the barge-in test run at the
    service's own pace.
    """
    s = load_scenario(name)
    model = s.model.model_copy(
        update={
            "playback_speed": 10.0,
            "first_audio_latency_s": Dist(fixed=0.05),
            "transcription_delay_s": 0.02,
        }
    )
    faults: dict[str, Any] = {}
    if s.faults.phantom_interrupt:
        faults["phantom_interrupt"] = s.faults.phantom_interrupt.model_copy(
            update={"turn_complete_after_s": 0.3}
        )
    if s.faults.wedge:
        faults["wedge"] = s.faults.wedge.model_copy(
            update={"turn_complete_delay_s": Dist(fixed=0.1)}
        )
    quick = s.model_copy(update={"model": model, "faults": s.faults.model_copy(update=faults)})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(quick.model_dump(mode="json")))
    return path


def scenario_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path
