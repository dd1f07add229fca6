"""Shortcut: the websocket connect arguments a `genai.Client` computed when it was built
(`client._api_client._websocket_ssl_ctx`), given liveguard's `ping_interval` / `ping_timeout`
when an application passes its own client.

Relies on: the SDK keeping those arguments as a dict there. The reference path is the client as
the application built it (the SDK's default keepalive: a slow pong may then end a live call).
"""

from __future__ import annotations

from typing import Any

from liveguard.fastpath.seam import Shortcut

__all__ = ["SDK_KEEPALIVE", "connect_args"]


def _probe() -> str | None:
    from google import genai

    api = getattr(genai.Client(api_key="probe", vertexai=False), "_api_client", None)
    if not isinstance(getattr(api, "_websocket_ssl_ctx", None), dict):
        return "genai.Client keeps no _api_client._websocket_ssl_ctx dict of connect arguments"
    return None


SDK_KEEPALIVE = Shortcut("sdk-keepalive", _probe, "the application's client as built")


def connect_args(client: Any) -> dict[str, Any] | None:
    """The client's own websocket connect arguments (a dict to add to), or None: the reference
    path (the shortcut is off, warned once, or this client is not shaped as expected)."""
    if not SDK_KEEPALIVE.usable():
        return None
    args = getattr(getattr(client, "_api_client", None), "_websocket_ssl_ctx", None)
    if not isinstance(args, dict):
        SDK_KEEPALIVE.missing("this client keeps no _api_client._websocket_ssl_ctx dict")
        return None
    return args
