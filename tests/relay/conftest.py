"""Relay fixtures: an in-process relay (real aiohttp server, real GuardedSession, real SDK) in
front of the in-process emulator from tests/conftest.py."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real Redis (Debian's redis-server, installed by scripts/setup) on 127.0.0.1 and a free
    port, started for the test and stopped after it; nothing is written to disk."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed: run scripts/setup (it installs Debian's)")
    port = _free_port()
    args = ["--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    args += ["--dir", str(tmp_path), "--protected-mode", "yes", "--loglevel", "warning"]
    proc = subprocess.Popen(
        [exe, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:  # bounded: up when it answers PING
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
