"""The keepalive shortcut: an application's own client gets liveguard's ping settings through
the SDK's stored connect arguments; an SDK that no longer stores them there leaves the client as
built, says so once, and a guarded session on that client still talks to the emulator."""

from __future__ import annotations

from fastpath_helpers import fastpath_warnings
from google import genai
from google.genai import _api_client

from liveguard.config.settings import Settings
from liveguard.session import GuardedSession
from liveguard.session.config import ensure_keepalive

PINGS = Settings(ping_interval_s=7, ping_timeout_s=9)


def test_the_applications_client_gets_the_ping_settings() -> None:
    client = genai.Client(api_key="k", vertexai=False)
    assert ensure_keepalive(client, PINGS)
    args = client._api_client._websocket_ssl_ctx
    assert (args["ping_interval"], args["ping_timeout"]) == (7, 9)


async def test_without_the_stored_connect_arguments_the_client_is_left_as_built(
    emulator, monkeypatch, caplog
) -> None:
    caplog.set_level("WARNING", logger="liveguard.fastpath")
    original = _api_client.BaseApiClient.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        self._websocket_ssl_ctx = tuple(self._websocket_ssl_ctx.items())  # not a dict any more

    monkeypatch.setattr(_api_client.BaseApiClient, "__init__", init)
    client = emulator.client()
    assert not ensure_keepalive(client, PINGS)
    assert not ensure_keepalive(client, PINGS)
    (warning,) = fastpath_warnings(caplog, "sdk-keepalive")
    assert "_websocket_ssl_ctx" in warning

    monkeypatch.undo()  # the SDK connects with the arguments it has, as any client of it would
    client = emulator.client()
    async with GuardedSession(Settings(), client=client, greeting="Hello") as session:
        async for item in session:
            if getattr(item, "pcm", None):
                break
        assert session.connected
