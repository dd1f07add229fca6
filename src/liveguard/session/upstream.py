"""One upstream connection through the official SDK: open, send, receive, close. Nothing else.

Why a class: `client.aio.live.connect()` is an async context manager, but a guarded session opens
and closes connections from different tasks (reconnects), so the context is held open explicitly.
Every close, theirs or ours, is reported once as `(code, reason, side)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from google import genai
from google.genai import errors, types
from websockets.exceptions import ConnectionClosed

from liveguard.fastpath.sdk_audio import AudioWriter, audio_writer
from liveguard.fastpath.sdk_parse import SDK_PARSE, ModelAudioChunk, parse_server_message
from liveguard.fastpath.sdk_socket import lean_socket

CLOSE_ABNORMAL = 1006


def close_info(exc: BaseException) -> tuple[int, str]:
    """The close code and reason behind an SDK / websockets exception (1006 when unknown)."""
    if isinstance(exc, errors.APIError):
        code = exc.code if isinstance(exc.code, int) else CLOSE_ABNORMAL
        details = exc.details
        reason = details if isinstance(details, str) else (exc.message or str(details or ""))
        return code, reason
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd or exc.sent
        if frame is not None:
            return frame.code, frame.reason
        return CLOSE_ABNORMAL, "abnormal closure"
    return CLOSE_ABNORMAL, f"{type(exc).__name__}: {exc}"[:200]


class UpstreamConnection:
    """A live connection; `messages()` yields server messages until it closes."""

    def __init__(self, client: genai.Client, model: str, config: types.LiveConnectConfig) -> None:
        self._client = client
        self._model = model
        self._config = config
        self._cm: Any = None
        self.session: Any = None
        self.closed_by_us = False
        self._ws: Any = None  # the SDK session's websocket, when the lean wire reads it
        self._audio: AudioWriter | None = None  # the one writer of caller audio, set by open()

    @property
    def lean(self) -> bool:
        """Model audio and caller audio take the lean wire (`liveguard.fastpath`)."""
        return self._ws is not None and self._audio is not None and self._audio.lean

    async def open(self) -> None:
        """Connect and wait for `setupComplete`; raises the SDK's exception on a refused setup.
        Decides, once, how this connection reads and how its caller audio is written: the lean
        wire (`liveguard.fastpath`) when the SDK is shaped as expected, else the SDK's paths."""
        cm = self._client.aio.live.connect(model=self._model, config=self._config)
        self.session = await cm.__aenter__()
        self._cm = cm
        ws = lean_socket(self.session)
        self._audio = audio_writer(self.session, ws)
        self._ws = ws if ws is not None and SDK_PARSE.usable() else None

    async def close(self) -> None:
        """Close with 1000 (the service rejects a resume while the old socket is still open)."""
        self.closed_by_us = True
        cm, self._cm = self._cm, None
        if cm is not None:
            with contextlib.suppress(Exception):
                await cm.__aexit__(None, None, None)

    async def messages(self) -> AsyncIterator[types.LiveServerMessage | ModelAudioChunk]:
        """Every server message, across turns, until the connection closes (then it raises the
        SDK's `APIError`, or websockets' `ConnectionClosed` on the lean wire). Messages that are
        nothing but model audio come as `ModelAudioChunk` on the lean wire."""
        ws = self._ws
        if ws is None:
            while True:
                async for msg in self.session.receive():
                    yield msg
        while True:
            yield parse_server_message(await ws.recv(decode=False))

    # ------------------------------------------------------------------ sending

    def try_send_audio(self, pcm: bytes, rate: int) -> bool:
        """Write PCM16 caller audio at `rate` now, without waiting; False when that is not
        possible (the SDK's writer, the socket not open, or its buffer backed up)."""
        audio = self._audio
        return audio is not None and audio.try_write(pcm, rate)

    async def send_audio(self, pcm: bytes, rate: int) -> None:
        """PCM16 caller audio at `rate`, declared in its MIME type, through the same writer as
        `try_send_audio`; waits when the socket is backed up and raises when it is closed."""
        if self._audio is None:
            raise RuntimeError("send_audio before open()")
        await self._audio.write(pcm, rate)

    async def send_text(self, text: str) -> None:
        await self.session.send_realtime_input(text=text)

    async def send_activity(self, kind: str) -> None:
        if kind == "start":
            await self.session.send_realtime_input(activity_start=types.ActivityStart())
        else:
            await self.session.send_realtime_input(activity_end=types.ActivityEnd())

    async def send_seed(self, turns: tuple[tuple[str, str], ...]) -> None:
        """Re-seed a fresh session's history: `clientContent` with turnComplete=false (no reply)."""
        contents = [
            types.Content(
                role="model" if role == "model" else "user", parts=[types.Part(text=text)]
            )
            for role, text in turns
            if text
        ]
        if contents:
            await self.session.send_client_content(turns=contents, turn_complete=False)

    async def send_tool_response(self, responses: list[types.FunctionResponse]) -> None:
        await self.session.send_tool_response(function_responses=responses)
