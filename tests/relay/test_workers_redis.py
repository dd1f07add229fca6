"""Scale-out with a real Redis: `liveguard serve --workers 2 --set redis_url=...` in front of one
`liveguard emulate` (standing in for Google, which every node shares). Every worker's dashboard
shows every call, and a browser caller whose socket drops reconnects to the other worker and
continues the same conversation from the handle in Redis."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from browser_talk import PageCaller

pytestmark = pytest.mark.slow


def _start(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(proc.stderr.read())
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGTERM)  # at once: the test is over
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


@pytest.fixture
def redis_host(redis_url: str, tmp_path: Path) -> Iterator[dict]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}
    emu, upstream = _start(
        [sys.executable, "-m", "liveguard", "emulate", "--port", "0", "--scenario", "healthy"],
        env,
    )
    host = None
    try:
        env.update(
            LIVEGUARD_API_KEY=upstream["api_key"],
            LIVEGUARD_UPSTREAM_BASE_URL=upstream["base_url"],
            LIVEGUARD_UPSTREAM_CA_FILE=upstream["ca_file"],
            LIVEGUARD_REDIS_URL=redis_url,
            LIVEGUARD_LOG_DIR=str(tmp_path / "logs"),
        )
        cmd = [sys.executable, "-m", "liveguard", "serve", "--port", "0", "--workers", "2"]
        host, ready = _start([*cmd, "--log-level", "WARNING"], env)
        yield ready
    finally:
        if host is not None:
            _stop(host)
        _stop(emu)


def _fresh() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


async def _views(url: str, n: int = 12) -> list[dict]:
    """`/sessions.json` as several workers answer it (a new connection each)."""
    async with _fresh() as http:
        return [await (await http.get(url + "/sessions.json")).json() for _ in range(n)]


async def _wait_no_live(url: str) -> None:
    for _ in range(200):
        if all(not v["live"] for v in await _views(url, 4)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("a dropped call stayed live on the dashboard")


async def test_dashboard_and_resume_across_workers_through_redis(redis_host: dict) -> None:
    url, workers = redis_host["url"], set(redis_host["workers"])
    browser = redis_host["browser_stream"]
    async with aiohttp.ClientSession() as http:
        first = PageCaller(await http.ws_connect(browser))
        ready = await first.wait_for("ready")
        home = ready["worker"]
        assert home in workers
        await first.wait_for("turn_complete")  # the greeting
        # every worker's dashboard shows the call (the other one from Redis)
        for _ in range(100):
            views = await _views(url)
            answered_by = {int(v["worker"].rsplit(":", 1)[1]) for v in views}
            if answered_by == workers and all(
                [s["session"] for s in v["live"]] == [ready["session"]] for v in views
            ):
                break
            await asyncio.sleep(0.1)
        assert answered_by == workers
        assert all([s["session"] for s in v["live"]] == [ready["session"]] for v in views)

        await first.say("check_order")
        await first.wait_for("answered")
        await first.wait_for("turn_complete", 2)
        await first.drop()
        await _wait_no_live(url)

        # the page reconnects (a new connection each time, as after a drop) until the kernel
        # gives it the other worker, which has only Redis to find the conversation by
        for _ in range(30):
            again = PageCaller(await http.ws_connect(browser + "?resume=" + ready["resume"]))
            back = await again.wait_for("ready")
            assert back["resumed"] is True and back["resume"] == ready["resume"]
            if back["worker"] != home:
                break
            await again.drop()
            await _wait_no_live(url)
        assert back["worker"] != home
        await again.say("order_number")
        assert (await again.wait_for("answered"))["turn"] >= 1
        await again.hangup()
