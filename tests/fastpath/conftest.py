"""Fast-path fixtures: every shortcut probed afresh around each test (a test may change a
library's shape with monkeypatch), and an in-process relay in front of the emulator from
tests/conftest.py (real aiohttp server, real GuardedSession, real SDK over TLS)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import liveguard.fastpath.caller_ws
import liveguard.fastpath.sdk_audio
import liveguard.fastpath.sdk_keepalive
import liveguard.fastpath.sdk_parse
import liveguard.fastpath.sdk_socket
import liveguard.fastpath.ws_pings
import liveguard.fastpath.ws_pump
import liveguard.fastpath.ws_reader
import liveguard.fastpath.ws_writer  # noqa: F401  (every shortcut registered)
from liveguard.config.settings import Settings
from liveguard.emulator.server import Emulator
from liveguard.fastpath.seam import shortcuts
from liveguard.relay.server import Relay


@pytest.fixture(autouse=True)
def fresh_shortcuts() -> Iterator[None]:
    """Set up before and torn down after `monkeypatch`: probes see the patched library during
    the test and the real one again after it."""
    for shortcut in shortcuts().values():
        shortcut.reset()
    yield
    for shortcut in shortcuts().values():
        shortcut.reset()


@pytest.fixture
async def relay(emulator: Emulator, tmp_path: Path) -> AsyncIterator[Relay]:
    settings = Settings.load(None, port=0, log_dir=tmp_path / "logs")
    relay = Relay(settings, client=emulator.client(), emulated=True)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.stop()
