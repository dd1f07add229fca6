"""`liveguard emulate` as a subprocess: one JSON line when ready, SDK connects, SIGTERM exits 0."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys

from google import genai
from google.genai import types

from liveguard.emulator.tls import client_ssl_context

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
CMD = [sys.executable, "-m", "liveguard", "emulate"]


async def test_emulate_prints_one_json_line_serves_the_sdk_and_stops_on_sigterm(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        *CMD, "--port", "0", "--scenario", "healthy", "--state-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        ready = json.loads(line)
        assert set(ready) == {"base_url", "ca_file", "api_key"}
        assert ready["base_url"].startswith("https://127.0.0.1:")
        client = genai.Client(
            api_key=ready["api_key"],
            http_options=types.HttpOptions(
                base_url=ready["base_url"],
                async_client_args={"ssl": client_ssl_context(ready["ca_file"])},
            ),
        )
        async with client.aio.live.connect(model=MODEL) as session:
            await session.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text="Hello")]),
                turn_complete=True,
            )
            msgs = [m async for m in session.receive()]
        assert msgs[-1].server_content.turn_complete
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), timeout=30)
        rest = await proc.stdout.read()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert rc == 0
    assert rest == b"", "exactly one line on stdout"


def test_list_scenarios() -> None:
    out = subprocess.run(
        [*CMD, "--list-scenarios"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"healthy", "seed-2333"} <= names


def test_bad_scenario_file_exits_2_with_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nseed: not-a-number\n")
    res = subprocess.run(
        [*CMD, "--port", "0", "--scenario", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 2
    assert res.stdout == ""
    assert "bad.yaml" in res.stderr and "seed" in res.stderr


def test_missing_scenario_exits_2(tmp_path) -> None:
    res = subprocess.run(
        [*CMD, "--port", "0", "--scenario", "no-such-scenario"],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 2
    assert "no-such-scenario" in res.stderr
