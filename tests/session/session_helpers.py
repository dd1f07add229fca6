"""A simulated caller for guarded-session tests: a phone line that is always sending.

The "mic" sends 20 ms PCM16 frames at real time (silence between utterances, like a phone) and
speaks shipped clips when asked; `Call` collects every item and event and lets a test wait for one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from liveguard import events as ev
from liveguard.audio.clips import load_clip
from liveguard.config.settings import Settings
from liveguard.emulator.server import SCENARIO_HEADER, Emulator
from liveguard.session import AudioOut, GuardedSession, make_client

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"


def session_for(
    emu: Emulator, scenario: str | None = None, settings: Settings | None = None, **kwargs: Any
) -> GuardedSession:
    """A GuardedSession on the emulator over TLS with the real SDK."""
    settings = settings or Settings(model=MODEL)
    client = make_client(
        settings,
        api_key=kwargs.pop("api_key", emu.api_key),
        base_url=emu.base_url,
        ssl_context=emu.ssl_context(),
    )
    headers = {SCENARIO_HEADER: scenario} if scenario else None
    return GuardedSession(settings, client=client, headers=headers, **kwargs)


class Call:
    """Drives one session like a phone caller and records what comes back."""

    def __init__(self, session: GuardedSession, rate: int = 8000) -> None:
        self.session = session
        self.rate = rate
        self.frame_bytes = rate * 2 // 50
        self.items: list[Any] = []
        self.events: list[ev.Event] = []
        self.frames_sent = 0
        self._speech: asyncio.Queue[bytes] = asyncio.Queue()
        self._changed = asyncio.Condition()
        self._spoken = asyncio.Event()  # set while the mic sends silence
        session.add_event_sink(self.events.append)
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Call:
        self._tasks = [asyncio.create_task(self._consume()), asyncio.create_task(self._mic())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()

    async def hang_up(self) -> None:
        self._tasks[1].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._tasks[1]
        await self.session.close()
        await self._tasks[0]

    async def _consume(self) -> None:
        try:
            async for item in self.session:
                self.items.append(item)
                async with self._changed:
                    self._changed.notify_all()
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def _mic(self) -> None:
        loop = asyncio.get_running_loop()
        silence = b"\0" * self.frame_bytes
        next_t = loop.time()
        while True:
            try:
                frame = self._speech.get_nowait()
            except asyncio.QueueEmpty:
                frame = silence
                self._spoken.set()
            await self.session.send_audio(frame, self.rate)
            self.frames_sent += 1
            next_t += 0.02
            await asyncio.sleep(max(0.0, next_t - loop.time()))

    async def say(self, clip: str) -> float:
        """Queue a shipped utterance; returns when it has been spoken (session time of its end)."""
        pcm = load_clip(clip, self.rate).pcm
        pcm += b"\0" * (-len(pcm) % self.frame_bytes)
        for i in range(0, len(pcm), self.frame_bytes):
            self._speech.put_nowait(pcm[i : i + self.frame_bytes])
        self._spoken.clear()
        await self._spoken.wait()
        return self.session.now()

    async def wait_for(
        self, pred: Callable[[Any], bool], within: float = 15.0, after: int = 0
    ) -> Any:
        """The first item (index >= after) matching `pred`; fails the test after `within` s."""

        def find() -> Any:
            for item in self.items[after:]:
                if pred(item):
                    return item
            return None

        async def wait() -> Any:
            async with self._changed:
                while (found := find()) is None:
                    if self._tasks[0].done():
                        raise AssertionError("session ended while waiting")
                    await self._changed.wait()
                return found

        return await asyncio.wait_for(wait(), within)

    # ---- reading the record

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def audio_seconds(self, after_t: float = 0.0) -> float:
        return sum(
            i.seconds
            for i in self.items
            if isinstance(i, AudioOut) and i.event and i.event.t >= after_t
        )


def is_(cls: type, **fields: Any) -> Callable[[Any], bool]:
    def pred(item: Any) -> bool:
        return isinstance(item, cls) and all(getattr(item, k) == v for k, v in fields.items())

    return pred
