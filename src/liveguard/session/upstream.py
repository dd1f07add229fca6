"""One upstream connection through the official SDK: open, send, receive, close. Nothing else.

Why a class: `client.aio.live.connect()` is an async context manager, but a guarded session opens
and closes connections from different tasks (reconnects), so the context is held open explicitly.
Every close, theirs or ours, is reported once as `(code, reason, side)`.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from google import genai
from google.genai import errors, types
from websockets.exceptions import ConnectionClosed

CLOSE_ABNORMAL = 1006
AUDIO_MIME = "audio/pcm;rate=16000"
_AUDIO_HEAD = '{"realtime_input": {"audio": {"data": "'
_AUDIO_TAIL = '", "mime_type": "' + AUDIO_MIME + '"}}}'


def audio_frame(pcm16k: bytes) -> str:
    """The exact text frame `send_realtime_input(audio=Blob(data=pcm16k, mime_type=AUDIO_MIME))`
    writes for a Gemini API (not Vertex) client: `json.dumps` of the converted dict, bytes as
    URL-safe base64. Built directly because the SDK's path (pydantic validation, converters,
    dict walks, json.dumps) costs more than everything else the relay does per 20 ms frame;
    tests check it stays byte-identical to what the installed SDK sends."""
    return _AUDIO_HEAD + base64.urlsafe_b64encode(pcm16k).decode("ascii") + _AUDIO_TAIL


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
        self._raw_send: Any = None

    async def open(self) -> None:
        """Connect and wait for `setupComplete`; raises the SDK's exception on a refused setup."""
        cm = self._client.aio.live.connect(model=self._model, config=self._config)
        self.session = await cm.__aenter__()
        self._cm = cm
        # the lean audio path writes on the SDK session's own websocket (see `audio_frame`);
        # any SDK that is not shaped as expected, or a Vertex client, keeps the SDK's path
        ws = getattr(self.session, "_ws", None)
        api = getattr(self.session, "_api_client", None)
        lean = ws is not None and callable(getattr(ws, "send", None))
        self._raw_send = ws.send if lean and not getattr(api, "vertexai", True) else None

    async def close(self) -> None:
        """Close with 1000 (the service rejects a resume while the old socket is still open)."""
        self.closed_by_us = True
        cm, self._cm = self._cm, None
        if cm is not None:
            with contextlib.suppress(Exception):
                await cm.__aexit__(None, None, None)

    async def messages(self) -> AsyncIterator[types.LiveServerMessage]:
        """Every server message, across turns, until the connection closes (then the SDK raises)."""
        while True:
            async for msg in self.session.receive():
                yield msg

    # ------------------------------------------------------------------ sending

    async def send_audio(self, pcm16k: bytes) -> None:
        raw = self._raw_send
        if raw is not None:
            await raw(audio_frame(pcm16k))
        else:
            await self.session.send_realtime_input(
                audio=types.Blob(data=pcm16k, mime_type=AUDIO_MIME)
            )

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
