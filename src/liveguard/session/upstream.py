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
from websockets.protocol import State

from liveguard.session.lean import (
    ModelAudioChunk,
    audio_frame,
    audio_mime,
    masked_text_frame,
    parse_server_message,
)

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
        self._ws: Any = None  # the SDK session's websocket, when the lean wire can use it

    @property
    def lean(self) -> bool:
        """Model audio and caller audio take the lean wire (`liveguard.session.lean`)."""
        return self._ws is not None

    async def open(self) -> None:
        """Connect and wait for `setupComplete`; raises the SDK's exception on a refused setup."""
        cm = self._client.aio.live.connect(model=self._model, config=self._config)
        self.session = await cm.__aenter__()
        self._cm = cm
        # the lean wire reads and writes the SDK session's own websocket (liveguard.session.lean);
        # an SDK that is not shaped as expected, or a Vertex client, keeps the SDK's paths
        ws = getattr(self.session, "_ws", None)
        api = getattr(self.session, "_api_client", None)
        shaped = (
            all(callable(getattr(ws, name, None)) for name in ("send", "recv"))
            and hasattr(ws, "transport")
            and hasattr(ws, "protocol")
        )
        if shaped and not getattr(api, "vertexai", True):
            self._ws = ws

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
        """Write PCM16 caller audio at `rate` on the lean wire now, without waiting; False when
        that is not possible (no lean wire, the socket not open, or its buffer backed up)."""
        ws = self._ws
        if (
            ws is None
            or ws.protocol.state is not State.OPEN
            or ws.transport.is_closing()
            or ws.transport.get_write_buffer_size() >= ws.write_limit_high
        ):
            return False
        # the frame websockets would write, without its lock, drain and state machine
        ws.transport.write(masked_text_frame(audio_frame(pcm, rate)))
        return True

    async def send_audio(self, pcm: bytes, rate: int) -> None:
        """PCM16 caller audio at `rate`, declared in its MIME type; waits when the socket is
        backed up and raises when it is closed (the SDK's and websockets' own paths)."""
        if self.try_send_audio(pcm, rate):
            return
        if self._ws is None:
            blob = types.Blob(data=pcm, mime_type=audio_mime(rate))
            await self.session.send_realtime_input(audio=blob)
        else:
            await self._ws.send(audio_frame(pcm, rate))

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
