"""`liveguard serve --workers 2` as a real subprocess: calls spread over both workers, `/metrics`
and `/sessions` cover the host, a killed worker is restarted and takes only its own calls, and
SIGTERM drains every worker while the calls in progress talk to their end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from liveguard.caller.script import load_script
from liveguard.caller.simulated import run_call

pytestmark = pytest.mark.slow

# long enough to be up while the test looks around, short enough for a test
SCRIPT = """
name: workers
description: greeting, two turns with a pause between them
steps:
  - wait_answer: 15
  - say: check_order
  - wait_answer: 15
  - pause: 6
  - say: order_number
  - wait_answer: 15
"""


@pytest.fixture
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[subprocess.Popen, dict]]:
    """The host, sharing its view through files (default) or a real Redis (`"redis"`)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}
    env["LIVEGUARD_LOG_DIR"] = str(tmp_path / "logs")
    if getattr(request, "param", "files") == "redis":
        env["LIVEGUARD_REDIS_URL"] = request.getfixturevalue("redis_url")
    cmd = [sys.executable, "-m", "liveguard", "serve", "--port", "0", "--workers", "2"]
    proc = subprocess.Popen(
        [*cmd, "--scenario", "healthy", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        yield proc, json.loads(line)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGTERM)  # a second one: stop at once
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _fresh_connections() -> aiohttp.ClientSession:
    """A client that opens a new connection per request (the kernel picks a worker for each)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


async def _sessions(http: aiohttp.ClientSession, url: str) -> dict:
    return await (await http.get(url + "/sessions.json")).json()


async def _live_by_worker(http: aiohttp.ClientSession, url: str, n: int) -> Counter:
    """Wait (bounded) until the dashboard shows `n` live calls; how many each worker has."""
    for _ in range(200):
        live = (await _sessions(http, url))["live"]
        if len(live) >= n:
            return Counter(int(s["worker"].rsplit(":", 1)[1]) for s in live)
        await asyncio.sleep(0.1)
    raise AssertionError(f"the dashboard never showed {n} live calls")


def _metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def _spread_calls(
    url: str, script, tasks: list[asyncio.Task], http: aiohttp.ClientSession
) -> Counter:
    """Start calls until both workers have at least two (the kernel hashes connections, so this
    takes a few; bounded)."""
    by_worker: Counter = Counter()
    while len(tasks) < 16:
        tasks.append(asyncio.create_task(run_call(url + "/twilio/stream", script)))
        await asyncio.sleep(0.3)
        if len(tasks) >= 4:
            by_worker = await _live_by_worker(http, url, len(tasks))
            if len(by_worker) == 2 and min(by_worker.values()) >= 2:
                return by_worker
    raise AssertionError(f"calls never spread over both workers: {by_worker}")


@pytest.mark.parametrize("host", ["files", "redis"], indirect=True)
async def test_workers_share_the_port_the_metrics_and_the_dashboard(host, tmp_path: Path) -> None:
    _, ready = host
    url = ready["url"]
    assert len(ready["workers"]) == 2
    (tmp_path / "workers.yaml").write_text(SCRIPT)
    script = load_script(tmp_path / "workers.yaml")
    tasks: list[asyncio.Task] = []
    async with _fresh_connections() as http:
        by_worker = await _spread_calls(url, script, tasks, http)
        assert set(by_worker) == set(ready["workers"])
        n = len(tasks)
        # any worker's /metrics covers the whole host
        for _ in range(4):
            text = await (await http.get(url + "/metrics")).text()
            assert _metric(text, "liveguard_sessions_total", transport="twilio") == n
            assert _metric(text, "liveguard_sessions_active") == n
        pids = {(await (await http.get(url + "/livez")).json())["pid"] for _ in range(20)}
        assert pids == set(ready["workers"])

        # SIGKILL one worker: its calls end, the other's talk on; it comes back
        victim = max(by_worker, key=lambda pid: by_worker[pid])
        os.kill(victim, signal.SIGKILL)
        results = await asyncio.wait_for(asyncio.gather(*tasks), 120)
        complete = [r for r in results if r.summary["answered"] == 2]  # both caller turns
        cut = [r for r in results if r.summary["answered"] < 2]
        assert len(cut) == by_worker[victim], [r.summary for r in results]
        assert len(complete) == n - by_worker[victim]
        assert all(r.summary["closed_by_relay"] for r in cut)
        assert all(not r.summary["closed_by_relay"] for r in complete)

        new_pid = None
        for _ in range(300):  # bounded: the restarted worker answers on the same port
            with contextlib.suppress(aiohttp.ClientError):
                pid = (await (await http.get(url + "/livez")).json())["pid"]
                if pid not in ready["workers"]:
                    new_pid = pid
                    break
            await asyncio.sleep(0.1)
        assert new_pid is not None, "the killed worker was not restarted"
        # the host view forgets the dead worker's calls and its live gauge
        for _ in range(100):
            snap = await _sessions(http, url)
            text = await (await http.get(url + "/metrics")).text()
            if not snap["live"] and _metric(text, "liveguard_sessions_active") == 0:
                break
            await asyncio.sleep(0.1)
        assert snap["live"] == []
        assert _metric(text, "liveguard_sessions_active") == 0
        assert _metric(text, "liveguard_sessions_total", transport="twilio") == n
        ended_workers = {s["worker"].rsplit(":", 1)[1] for s in snap["ended"]}
        assert str(next(iter(set(by_worker) - {victim}))) in ended_workers


async def test_sigterm_drains_every_worker_while_calls_talk_on(host, tmp_path: Path) -> None:
    proc, ready = host
    url = ready["url"]
    (tmp_path / "workers.yaml").write_text(SCRIPT)
    script = load_script(tmp_path / "workers.yaml")
    tasks: list[asyncio.Task] = []
    async with _fresh_connections() as http:
        by_worker = await _spread_calls(url, script, tasks, http)
        proc.send_signal(signal.SIGTERM)
        for _ in range(100):  # bounded: every worker turns unready at once
            statuses = {(await http.get(url + "/readyz")).status for _ in range(10)}
            if statuses == {503}:
                break
            await asyncio.sleep(0.05)
        assert statuses == {503}
        assert (await http.get(url + "/livez")).status == 200
        voice = await http.post(url + "/twilio/voice", data={"CallSid": "CA3"})
        assert ET.fromstring(await voice.text()).find("Reject") is not None
        late = await run_call(url + "/twilio/stream", "quick")
        assert late.summary["close_code"] == 1013 and late.summary["answered"] == 0
        results = await asyncio.wait_for(asyncio.gather(*tasks), 120)
    assert [r.summary["answered"] for r in results] == [2] * len(tasks), by_worker
    assert not any(r.summary["closed_by_relay"] for r in results)
    _, err = await asyncio.to_thread(proc.communicate, timeout=60)
    assert proc.returncode == 0, err
    assert "stopped (all workers)" in err
    assert not await asyncio.to_thread(os.path.exists, ready["host_dir"])  # cleaned up


async def test_post_drain_on_one_worker_drains_the_host(host, tmp_path: Path) -> None:
    proc, ready = host
    url = ready["url"]
    (tmp_path / "workers.yaml").write_text(SCRIPT)
    call = asyncio.create_task(
        run_call(url + "/twilio/stream", load_script(tmp_path / "workers.yaml"))
    )
    async with _fresh_connections() as http:
        await _live_by_worker(http, url, 1)
        assert (await http.post(url + "/drain")).status == 202  # loopback: no token needed
        for _ in range(100):  # bounded: the supervisor tells every worker
            statuses = {(await http.get(url + "/readyz")).status for _ in range(10)}
            if statuses == {503}:
                break
            await asyncio.sleep(0.05)
        assert statuses == {503}
        # a deploy's SIGTERM after it is still the drain, not a second "stop now"
        proc.send_signal(signal.SIGTERM)
        result = await asyncio.wait_for(call, 120)
    assert result.summary["answered"] == 2 and not result.summary["closed_by_relay"]
    _, err = await asyncio.to_thread(proc.communicate, timeout=60)
    assert proc.returncode == 0, err
    assert err.count("draining every worker") == 1 and "stopping every worker now" not in err
