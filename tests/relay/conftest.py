"""Relay fixtures: an in-process relay (real aiohttp server, real GuardedSession, real SDK) in
front of the in-process emulator from tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from liveguard.config.settings import Settings
from liveguard.emulator.server import Emulator
from liveguard.relay.server import Relay


@pytest.fixture
async def relay_factory(
    emulator: Emulator, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Relay]]]:
    started: list[Relay] = []

    async def make(**overrides: Any) -> Relay:
        overrides.setdefault("port", 0)
        overrides.setdefault("log_dir", tmp_path / "logs")
        settings = Settings.load(None, **overrides)
        relay = Relay(settings, client=emulator.client(), emulated=True)
        await relay.start()
        started.append(relay)
        return relay

    yield make
    for relay in reversed(started):
        await relay.stop()


@pytest.fixture
async def relay(relay_factory: Callable[..., Awaitable[Relay]]) -> Relay:
    return await relay_factory()
