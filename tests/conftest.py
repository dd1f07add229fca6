"""Shared fixtures: an in-process emulator on an ephemeral port, and google-genai clients for it.

- `emulator`: a started `Emulator` (scenario "healthy"); use `emulator.client(scenario=...)` for a
  ready google-genai Client (trusts the emulator through an ssl context), or pass the header
  `x-liveguard-scenario` yourself.
- `emulator_factory`: `await emulator_factory(scenario=..., api_key=..., ...)` for more emulators,
  all stopped at teardown.
- `genai_client`: a Client for `emulator` (default scenario).
- `LIVE_MODEL` / `live_model`: a model name the emulator knows.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from liveguard.emulator.server import Emulator

LIVE_MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"

# Never let a configured proxy intercept loopback connections in tests.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def live_model() -> str:
    return LIVE_MODEL


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(scenario="healthy") as emu:
        yield emu


@pytest.fixture
async def emulator_factory() -> AsyncIterator[Callable[..., Awaitable[Emulator]]]:
    started: list[Emulator] = []

    async def make(**kwargs: Any) -> Emulator:
        emu = Emulator(**kwargs)
        await emu.start()
        started.append(emu)
        return emu

    yield make
    for emu in reversed(started):
        await emu.stop()


@pytest.fixture
def genai_client(emulator: Emulator) -> Any:
    return emulator.client()


def pytest_collection_modifyitems(config, items):
    """Start the long real-time tests first, so the other worker runs the rest meanwhile."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
