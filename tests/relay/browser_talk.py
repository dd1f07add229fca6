"""A browser caller as the talk page is on the wire: PCM16 16 kHz frames up in real time, JSON and
24 kHz audio down; for the resume tests."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp

from liveguard.audio.clips import load_clip

FRAME = 640  # 20 ms at 16 kHz


class PageCaller:
    """One browser WebSocket: `ready` on connect, every JSON message kept in `messages`."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict] = []
        self.audio_bytes = 0
        self._new = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self.audio_bytes += len(msg.data)
            self._new.set()

    async def wait_for(self, kind: str, count: int = 1, within_s: float = 20.0) -> dict:
        """The `count`-th message of type `kind` (bounded wait)."""
        async with asyncio.timeout(within_s):
            while True:
                found = [m for m in self.messages if m.get("type") == kind]
                if len(found) >= count:
                    return found[count - 1]
                self._new.clear()
                await self._new.wait()

    async def say(self, clip: str) -> None:
        """The clip between silences, in real time, as the page's microphone sends it."""
        pcm = b"\x00" * 16000 + load_clip(clip, 16000).pcm + b"\x00" * 48000
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i, off in enumerate(range(0, len(pcm), FRAME)):
            await self.ws.send_bytes(pcm[off : off + FRAME])
            await asyncio.sleep(max(0.0, t0 + (i + 1) * 0.02 - loop.time()))

    async def drop(self) -> None:
        """The socket goes away without a hangup (a network drop, as the relay sees it)."""
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def hangup(self) -> None:
        await self.ws.send_str(json.dumps({"type": "hangup"}))
        await asyncio.wait_for(self._reader, 20)
