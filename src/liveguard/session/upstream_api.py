"""What a guarded session needs from one upstream connection, and how it gets one.

Why a protocol: the session opens a new connection on every reconnect through an injectable
factory (`GuardedSession(upstream_factory=...)`). The default is the real `UpstreamConnection` over
the google-genai SDK; a test passes a scripted, in-memory upstream instead and drives a session
through reconnects in fast time, without TLS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any, Protocol

from google import genai
from google.genai import types

from liveguard.session.upstream import UpstreamConnection


class UpstreamLink(Protocol):
    """One live connection (see `liveguard.session.upstream.UpstreamConnection`)."""

    closed_by_us: bool  # close() was called: an error from messages() is not a server close

    async def open(self) -> None:
        """Connect and wait for `setupComplete`; raise (like the SDK) when refused."""

    async def close(self) -> None:
        """Close with 1000; never raises."""

    def messages(self) -> AsyncIterator[Any]:
        """Server messages (what `MessageTranslator.translate` takes) until the connection ends,
        then raise the exception that ended it (`liveguard.session.upstream.close_info` maps it)."""
        ...

    def try_send_audio(self, pcm: bytes, rate: int) -> bool:
        """Write caller audio now without waiting, or return False (the sender then queues it)."""
        ...

    async def send_audio(self, pcm: bytes, rate: int) -> None: ...

    async def send_text(self, text: str) -> None: ...

    async def send_activity(self, kind: str) -> None: ...

    async def send_seed(self, turns: tuple[tuple[str, str], ...]) -> None: ...

    async def send_tool_response(self, responses: list[types.FunctionResponse]) -> None: ...


#: makes an unopened connection for one connect attempt with its `LiveConnectConfig`
UpstreamFactory = Callable[[types.LiveConnectConfig], UpstreamLink]


def sdk_upstream(client: genai.Client, model: str) -> UpstreamFactory:
    """The default factory: the real SDK connection (`UpstreamConnection`) for `model`."""
    return partial(UpstreamConnection, client, model)
