"""google-genai clients wired to a running emulator: its base URL, its CA, its key or token.

Why separate from server.py: building an SDK client is what a test or a benchmark needs from the
emulator, not what the server does; the server only provides the values (`Emulator.client`,
`Emulator.vertex_client` call these).
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from liveguard.emulator.wire import SCENARIO_HEADER

if TYPE_CHECKING:
    from google import genai


def gemini_client(
    emulator_url: str,
    api_key: str,
    ssl_context: ssl.SSLContext,
    scenario: str | None = None,
    /,
    *,
    vertexai: bool = False,
    **http_options: Any,
) -> genai.Client:
    """A Client with an API key; `http_options` may override headers, client args, base URL."""
    from google import genai
    from google.genai import types

    headers = dict(http_options.pop("headers", None) or {})
    if scenario is not None:
        headers[SCENARIO_HEADER] = scenario
    client_args = dict(http_options.pop("async_client_args", None) or {})
    client_args.setdefault("ssl", ssl_context)
    opts = types.HttpOptions(
        base_url=http_options.pop("base_url", emulator_url),
        headers=headers or None,
        async_client_args=client_args,
        **http_options,
    )
    return genai.Client(api_key=api_key, vertexai=vertexai or None, http_options=opts)


def vertex_client(
    base_url: str,
    ssl_context: ssl.SSLContext,
    scenario: str | None = None,
    *,
    project: str,
    location: str,
    token: str,
) -> genai.Client:
    """A Vertex AI Client (project + location + a fixed, already valid OAuth token)."""
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials

    headers = {SCENARIO_HEADER: scenario} if scenario is not None else None
    opts = types.HttpOptions(
        base_url=base_url,
        headers=headers,
        async_client_args={"ssl": ssl_context},
    )
    return genai.Client(
        vertexai=True,
        project=project,
        location=location,
        credentials=Credentials(token=token),
        http_options=opts,
    )
