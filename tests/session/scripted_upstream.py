"""A scripted upstream for `GuardedSession(upstream_factory=line.factory)`: no TLS, no SDK socket.

`ScriptedLine` is the test's side of the wire: it makes one `ScriptedUpstream` per connect the
session attempts (refusing the next ones when told), records the order of opens and closes, and
lets the test say what the server sends (`push`) or end a connection as the server would
(`drop`). Each connection records every message the session wrote, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from google.genai import errors, types


class ScriptedUpstream:
    """One connection: what the session sent, and the server messages the test scripts."""

    def __init__(self, line: ScriptedLine, index: int, config: types.LiveConnectConfig) -> None:
        self.line = line
        self.index = index
        self.config = config
        resumption = config.session_resumption
        self.handle = resumption.handle if resumption is not None else None
        self.sent: list[
            tuple[str, Any]
        ] = []  # ("audio" | "text" | "activity" | "seed" | "tool", x)
        self.closed_by_us = False
        self.is_open = False
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._wrote = asyncio.Event()

    # ---- the session's side (the `Upstream` protocol)

    async def open(self) -> None:
        self.line.log.append(("open", self.index))
        if self.line.refusals:
            raise self.line.refusals.pop(0)
        if self.line.stalls:  # setupComplete never comes: only the session's timeout ends this
            self.line.stalls -= 1
            await asyncio.Event().wait()
        self.is_open = True

    async def close(self) -> None:
        self.line.log.append(("close", self.index))
        self.closed_by_us = True
        self.is_open = False
        self._inbox.put_nowait(ConnectionError("closed by the client"))

    async def messages(self):
        while True:
            msg = await self._inbox.get()
            if isinstance(msg, BaseException):
                self.is_open = False
                raise msg
            yield msg

    def try_send_audio(self, pcm: bytes, rate: int) -> bool:
        if not self.is_open:
            return False
        self._record("audio", bytes(pcm))
        return True

    async def send_audio(self, pcm: bytes, rate: int) -> None:
        self._check()
        self._record("audio", bytes(pcm))

    async def send_text(self, text: str) -> None:
        self._check()
        self._record("text", text)

    async def send_activity(self, kind: str) -> None:
        self._check()
        self._record("activity", kind)

    async def send_seed(self, turns: tuple[tuple[str, str], ...]) -> None:
        self._check()
        self._record("seed", turns)

    async def send_tool_response(self, responses: list[types.FunctionResponse]) -> None:
        self._check()
        self._record("tool", responses)

    def _record(self, kind: str, what: Any) -> None:
        self.sent.append((kind, what))
        self._wrote.set()

    def _check(self) -> None:
        if not self.is_open:
            raise ConnectionError("the connection is closed")

    # ---- the test's side

    def push(self, **fields: Any) -> None:
        """A server message, e.g. `push(server_content={"turn_complete": True})`."""
        self._inbox.put_nowait(types.LiveServerMessage.model_validate(fields))

    def drop(self, code: int, reason: str = "") -> None:
        """End the connection from the server's side with a close code (as the SDK raises it)."""
        error = {"error": {"code": code, "message": reason, "status": reason}}
        self._inbox.put_nowait(errors.APIError(code, error))

    async def written(self, cond: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until `cond()` holds for what the session wrote."""

        async def wait() -> None:
            while not cond():
                self._wrote.clear()
                await self._wrote.wait()

        await asyncio.wait_for(wait(), within)

    def of(self, kind: str) -> list[Any]:
        return [x for k, x in self.sent if k == kind]


class ScriptedLine:
    """Every connection a session opened, in order; `refusals` fail the next opens, `stalls`
    never complete theirs."""

    def __init__(self) -> None:
        self.connections: list[ScriptedUpstream] = []
        self.refusals: list[Exception] = []
        self.stalls = 0  # the next opens that never get setupComplete
        self.log: list[tuple[str, int]] = []

    def factory(self, config: types.LiveConnectConfig) -> ScriptedUpstream:
        up = ScriptedUpstream(self, len(self.connections), config)
        self.connections.append(up)
        return up

    def refuse(self, code: int, reason: str = "", times: int = 1) -> None:
        for _ in range(times):
            error = {"error": {"code": code, "message": reason, "status": reason}}
            self.refusals.append(errors.APIError(code, error))

    @property
    def current(self) -> ScriptedUpstream:
        return self.connections[-1]


def model_audio(pcm: bytes = b"\xb8\x0b\x48\xf4" * 1200) -> dict[str, Any]:
    """`push(**model_audio())`: one chunk of 24 kHz model audio, at a level a caller hears (mean
    |sample| 3000: the guard takes quieter audio for an inaudible answer)."""
    blob = {"data": pcm, "mime_type": "audio/pcm;rate=24000"}
    return {"server_content": {"model_turn": {"parts": [{"inline_data": blob}]}}}
