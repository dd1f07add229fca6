"""`liveguard serve` as a real subprocess: no API key → it embeds the emulator and says so."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import aiohttp

from cli_process import start_liveguard
from liveguard.caller.simulated import run_call


async def test_serve_without_key_embeds_the_emulator(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}
    env["LIVEGUARD_LOG_DIR"] = str(tmp_path / "logs")
    proc = start_liveguard("serve", "--port", "0", "--scenario", "healthy", env=env)
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["emulator"] is True and ready["scenario"] == "healthy"
        async with aiohttp.ClientSession() as http:
            resp = await http.get(ready["url"] + "/healthz")
            assert resp.status == 200
            health = await resp.json()
            assert health["status"] == "ok" and health["emulator"] is True
            result = await run_call(ready["twilio_stream"], "quick")
            assert result.summary["answered"] == 1
            metrics = await (await http.get(ready["url"] + "/metrics")).text()
            assert 'liveguard_sessions_total{transport="twilio"} 1.0' in metrics
            assert "liveguard-emulator-key" not in metrics
            page = await http.get(ready["url"] + "/")
            assert page.status == 200 and "/static/app.js" in await page.text()
            worklet = await http.get(ready["url"] + "/static/mic-worklet.js")
            assert worklet.status == 200 and "registerProcessor" in await worklet.text()
            sessions = await http.get(ready["url"] + "/sessions")
            assert sessions.status == 200  # the report's dashboard, mounted by the relay
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "embedded Gemini Live emulator" in err and "scenario 'healthy'" in err
    assert "shutting down" in err
    logs = list((tmp_path / "logs").glob("*.jsonl"))
    assert len(logs) == 1
    assert json.loads(logs[0].read_text().splitlines()[-1])["event"] == "session_end"
