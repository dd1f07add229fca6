"""A guarded session on the "tool-call" emulator that has asked for an order (the tool tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from liveguard import events as ev
from liveguard.audio.clips import clip_text
from liveguard.config.settings import Settings
from liveguard.emulator.server import Emulator
from liveguard.session import GuardedSession, make_client


@asynccontextmanager
async def asking_for_an_order(
    emu: Emulator, settings: Settings, log: list[ev.Event]
) -> AsyncIterator[GuardedSession]:
    """A session of `settings` on `emu` whose events go to `log`, the caller's order number sent."""
    client = make_client(
        settings, api_key=emu.api_key, base_url=emu.base_url, ssl_context=emu.ssl_context()
    )
    async with GuardedSession(settings, client=client, greeting=False) as session:
        session.add_event_sink(log.append)
        await session.send_text(clip_text("order_number"))
        yield session
