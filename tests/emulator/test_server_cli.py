"""`liveguard emulate` as a subprocess: one JSON line when ready, SDK connects, SIGTERM exits 0."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from google import genai
from google.genai import types
from model_harness import TODAYS_SCENARIOS

from liveguard.cli import main
from liveguard.emulator.tls import client_ssl_context

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
CMD = [sys.executable, "-m", "liveguard", "emulate"]


async def test_emulate_prints_one_json_line_serves_the_sdk_and_stops_on_sigterm(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        *CMD,
        "--port",
        "0",
        "--scenario",
        "healthy",
        "--state-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
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


def test_list_scenarios(capsys) -> None:
    assert main(["emulate", "--list-scenarios"]) == 0
    out = capsys.readouterr().out
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"healthy", "seed-2333"} <= names
    assert TODAYS_SCENARIOS <= names


def test_bad_scenario_file_exits_2_with_a_clear_error(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nseed: not-a-number\n")
    assert main(["emulate", "--port", "0", "--scenario", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "bad.yaml" in captured.err and "seed" in captured.err


def test_missing_scenario_exits_2(capsys) -> None:
    assert main(["emulate", "--port", "0", "--scenario", "no-such-scenario"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "no-such-scenario" in captured.err
