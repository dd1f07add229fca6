"""The relay's raw writes to its callers: when aiohttp does not report the socket's compression,
every frame goes through `ws.send_str` / `send_bytes` (said once), and calls still work."""

from __future__ import annotations

import asyncio

from aiohttp import web
from fastpath_helpers import fastpath_warnings, relay_call_answered

from liveguard.fastpath.caller_ws import CALLER_WS, encode_frames
from liveguard.transports import call as call_module


def _count_raw_writes(monkeypatch) -> list[int]:
    """Record each raw write the transports make (and make it)."""
    original = call_module.CallBridge._write_now
    writes: list[int] = []

    def write_now(self, frames) -> None:
        writes.append(len(frames))
        original(self, frames)

    monkeypatch.setattr(call_module.CallBridge, "_write_now", write_now)
    return writes


def test_frames_are_what_aiohttp_writes() -> None:
    assert CALLER_WS.usable()
    assert encode_frames(["hi", b"\x00\x01"]) == b"\x81\x02hi\x82\x02\x00\x01"


async def test_on_by_default_calls_write_raw_frames(relay, monkeypatch) -> None:
    writes = _count_raw_writes(monkeypatch)
    await relay_call_answered(relay)
    assert writes


async def test_without_the_compression_report_calls_use_aiohttp_and_it_is_said_once(
    relay, monkeypatch, caplog
) -> None:
    monkeypatch.delattr(web.WebSocketResponse, "compress")
    writes = _count_raw_writes(monkeypatch)
    caplog.set_level("WARNING", logger="liveguard.fastpath")

    await asyncio.gather(relay_call_answered(relay), relay_call_answered(relay))
    assert writes == []  # every frame took ws.send_str / send_bytes
    (warning,) = fastpath_warnings(caplog, "caller-ws")
    assert "compress" in warning and "ws.send_str()" in warning
