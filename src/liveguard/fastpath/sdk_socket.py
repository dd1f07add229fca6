"""Shortcut: the websocket under the SDK's `AsyncSession` (`session._ws`), read and written
directly by the lean wire (`sdk_parse` for what it reads, `sdk_audio` for caller audio), instead
of going through `AsyncSession.receive()` / `send_realtime_input()` (the reference path).

Relies on: `AsyncSession` keeping the websocket and client it was built with as `_ws` and
`_api_client`, and that websocket being websockets' asyncio connection (`send`, `recv(decode=)`,
`transport`, `protocol.state`, `write_limit_high`). Probed once for the SDK; each connection's
socket is checked too. A Vertex client keeps the SDK's paths (the lean shapes are the Gemini API's).
"""

from __future__ import annotations

import inspect
from typing import Any

from liveguard.fastpath.seam import Shortcut

__all__ = ["SDK_SOCKET", "lean_socket"]

_TRANSPORT_NEEDS = ("write", "is_closing", "get_write_buffer_size")


def _probe() -> str | None:
    from google.genai.live import AsyncSession
    from websockets.asyncio.connection import Connection

    ws, api = object(), type("Api", (), {"vertexai": False})()
    session = AsyncSession(api_client=api, websocket=ws)  # type: ignore[arg-type]
    if getattr(session, "_ws", None) is not ws:
        return "AsyncSession no longer keeps its websocket as _ws"
    if getattr(session, "_api_client", None) is not api:
        return "AsyncSession no longer keeps its client as _api_client"
    if "decode" not in inspect.signature(Connection.recv).parameters:
        return "websockets' Connection.recv() takes no decode="
    return None


SDK_SOCKET = Shortcut("sdk-socket", _probe, "AsyncSession.receive() / send_realtime_input()")


def _lacking(ws: Any) -> list[str]:
    """What the lean wire needs from `ws` and does not find."""
    out = [f"ws.{n}()" for n in ("send", "recv") if not callable(getattr(ws, n, None))]
    transport = getattr(ws, "transport", None)
    out += [f"ws.transport.{n}()" for n in _TRANSPORT_NEEDS if not hasattr(transport, n)]
    if not hasattr(getattr(ws, "protocol", None), "state"):
        out.append("ws.protocol.state")
    if not isinstance(getattr(ws, "write_limit_high", None), int):
        out.append("ws.write_limit_high")
    return out


def lean_socket(session: Any) -> Any | None:
    """The websocket under an open `session` when the lean wire may use it, else None (the
    SDK's own paths): a Vertex client, or a library not shaped as expected (warned once)."""
    if not SDK_SOCKET.usable():
        return None
    if getattr(getattr(session, "_api_client", None), "vertexai", True):
        return None
    ws = getattr(session, "_ws", None)
    lacking = _lacking(ws)
    if lacking:
        SDK_SOCKET.missing(f"the SDK's websocket ({type(ws).__name__}) has no {', '.join(lacking)}")
        return None
    return ws
