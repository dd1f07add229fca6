"""Shortcut: the emulator's pump takes each data frame from websockets synchronously, inside
`data_received`, instead of a task awaiting `recv()` under a timer per frame. The reference path
is that plain recv loop (`Emulator._recv_loop`: `await conn.recv()` bounded by the model's next
deadline).

Relies on: websockets' asyncio `ServerConnection` reporting parsed frames through an overridable
`process_event(event)`, flushing the protocol's output with `send_data()` and recording a failed
write with `set_connection_exc()`; its `recv_messages` Assembler keeping queued frames in a
`frames.queue` deque (drained when the pump takes over) with `maybe_resume()`; and the
connection's `paused` flag (the pump holds the model while the client reads slowly). The classes
are probed once; the per-connection attributes (made in `connection_made`) are checked by
`can_pump` on each connection.
"""

from __future__ import annotations

import collections
import inspect
from typing import Any

from websockets.asyncio.messages import Assembler
from websockets.asyncio.server import ServerConnection

from liveguard.fastpath.seam import Shortcut

__all__ = ["WS_PUMP", "can_pump"]


def _probe() -> str | None:
    for name in ("process_event", "send_data", "set_connection_exc"):
        if not callable(getattr(ServerConnection, name, None)):
            return f"websockets' ServerConnection has no {name}()"
    params = list(inspect.signature(ServerConnection.process_event).parameters)
    if params != ["self", "event"]:
        return f"websockets' ServerConnection.process_event takes {params}"
    if not callable(getattr(Assembler, "maybe_resume", None)):
        return "websockets' Assembler has no maybe_resume()"
    return None


WS_PUMP = Shortcut("ws-pump", _probe, "a recv() loop under the model's next deadline")


def _shape(conn: Any) -> str | None:
    messages = getattr(conn, "recv_messages", None)
    if not isinstance(getattr(getattr(messages, "frames", None), "queue", None), collections.deque):
        return "websockets' connection keeps no recv_messages.frames.queue deque"
    if not isinstance(getattr(conn, "paused", None), bool):
        return "websockets' connection has no paused flag"
    return None


def can_pump(conn: Any) -> bool:
    """True when the pump may drive `conn`; else the caller takes the recv loop (said once)."""
    if not WS_PUMP.usable():
        return False
    why = _shape(conn)
    if why is not None:
        WS_PUMP.missing(why)
        return False
    return True
