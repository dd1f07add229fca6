"""Shortcut: the emulator's say over PING frames, by wrapping `recv_frame` on one connection's
websockets protocol object, so a scenario can delay or drop pongs. The reference path is
websockets answering every ping itself at once (a scenario's slow or missing pongs are then not
played).

Relies on: websockets' sans-I/O `Protocol` dispatching each parsed frame through the instance's
`recv_frame` (answering PING there) and reporting frames through `protocol.events`. Probed once
on a throwaway protocol: a wrapped `recv_frame` must see a PING, and a held PING must leave no
pong behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.frames import Frame, Opcode, apply_mask
from websockets.protocol import Protocol, Side, State

from liveguard.fastpath.seam import Shortcut

__all__ = ["WS_PINGS", "intercept_pings"]

_PING = Opcode.PING


def _wrap(protocol: Any, on_ping: Callable[[Frame], bool]) -> None:
    original = protocol.recv_frame
    events = protocol.events

    def recv_frame(frame: Frame) -> None:
        if frame.opcode is not _PING or on_ping(frame):
            original(frame)  # every other frame, and pings answered now: websockets' own way
        else:
            events.append(frame)  # reported as websockets would, without the pong

    protocol.recv_frame = recv_frame


def _probe() -> str | None:
    seen: list[Frame] = []

    def hold(frame: Frame) -> bool:
        seen.append(frame)
        return False

    protocol = Protocol(Side.SERVER, state=State.OPEN)
    if not isinstance(getattr(protocol, "events", None), list):
        return "websockets' Protocol has no events list"
    _wrap(protocol, hold)
    key = b"\x01\x02\x03\x04"
    protocol.receive_data(b"\x89\x82" + key + apply_mask(b"hi", key))
    if not seen or seen[0].data != b"hi":
        return "websockets' Protocol no longer parses frames through its recv_frame"
    if protocol.data_to_send():
        return "a held PING was answered anyway"
    if [type(e) for e in protocol.events_received()] != [Frame]:
        return "a held PING is not reported as an event"
    return None


WS_PINGS = Shortcut("ws-pings", _probe, "websockets answers every ping at once")


def intercept_pings(protocol: Any, on_ping: Callable[[Frame], bool]) -> bool:
    """Call `on_ping(frame)` for each PING `protocol` parses: True answers it now (websockets'
    own way), False holds it (the caller answers later, or never). False when the shortcut is
    off, and websockets keeps answering every ping itself."""
    if not WS_PINGS.usable():
        return False
    _wrap(protocol, on_ping)
    return True
