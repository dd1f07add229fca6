"""The SDK's socket shortcut: an SDK that no longer keeps its websocket as `_ws` (here: wraps it)
gets the SDK's own paths for reading and for caller audio, says so once, and the relay and the
emulator still work."""

from __future__ import annotations

from typing import Any

from fastpath_helpers import converse, fastpath_warnings, relay_call_answered
from google.genai import live

from liveguard.fastpath.sdk_socket import SDK_SOCKET, lean_socket


class _Wrapped:
    """A websocket behind a wrapper with only what the SDK itself calls."""

    def __init__(self, ws: Any) -> None:
        self._inner = ws

    async def send(self, data: Any) -> None:
        await self._inner.send(data)

    async def recv(self, *args: Any, **kwargs: Any) -> Any:
        return await self._inner.recv(*args, **kwargs)

    async def close(self, *args: Any, **kwargs: Any) -> None:
        await self._inner.close(*args, **kwargs)


def _wrap_sdk_socket(monkeypatch) -> None:
    original = live.AsyncSession.__init__

    def init(self, api_client, websocket, *args: Any, **kwargs: Any) -> None:
        original(self, api_client, _Wrapped(websocket), *args, **kwargs)

    monkeypatch.setattr(live.AsyncSession, "__init__", init)


async def test_without_the_sdk_socket_both_directions_take_the_sdk_and_it_is_said_once(
    emulator, relay, monkeypatch, caplog
) -> None:
    _wrap_sdk_socket(monkeypatch)
    caplog.set_level("WARNING", logger="liveguard.fastpath")

    talk = await converse(emulator)
    assert not talk.lean and not talk.lean_read
    assert talk.written_now == 0  # one writer: the SDK's send_realtime_input, always awaited
    assert talk.audio_chunks > 0 and talk.lean_chunks == 0
    assert talk.stats.audio_bytes_received == talk.sent_bytes

    await relay_call_answered(relay)
    (warning,) = fastpath_warnings(caplog, "sdk-socket")
    assert "_ws" in warning and "send_realtime_input()" in warning


class _Session:
    """What `lean_socket` reads off an SDK session: its client and its websocket."""

    def __init__(self, ws: Any, vertexai: bool = False) -> None:
        self._api_client = type("Api", (), {"vertexai": vertexai})()
        self._ws = ws


def test_a_socket_of_another_shape_is_refused_and_named_once(caplog) -> None:
    caplog.set_level("WARNING", logger="liveguard.fastpath")
    assert lean_socket(_Session(_Wrapped(object()))) is None
    assert lean_socket(_Session(_Wrapped(object()))) is None
    (warning,) = fastpath_warnings(caplog, "sdk-socket")
    assert "ws.transport.write()" in warning and "ws.write_limit_high" in warning
    assert SDK_SOCKET.usable()  # the SDK itself is fine: the next socket is checked again


def test_a_vertex_client_keeps_the_sdk_paths_without_a_warning(caplog) -> None:
    caplog.set_level("WARNING", logger="liveguard.fastpath")
    assert lean_socket(_Session(object(), vertexai=True)) is None
    assert not fastpath_warnings(caplog, "sdk-socket")
