"""Metrics across worker processes (prometheus-client multiprocess mode, as `serve --workers`
runs it): counters and histograms add up, the live gauge sums live workers only, and the
lock-free audio-path metrics reach the shared files through their twins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import multiprocess
from prometheus_client.parser import text_string_to_metric_families

WORKER = """
import os, sys
from liveguard import events as ev
from liveguard.telemetry import MetricsRecorder
m = MetricsRecorder()
started, ended = int(sys.argv[1]), int(sys.argv[2])
for i in range(started):
    m.observe(ev.SessionStarted(t=0.0, session_id=str(i), transport="twilio"))
    m.observe_forwarding("up", 0.0004, 0.02)
for i in range(ended):
    m.observe(ev.SessionEnded(t=1.0, reason="hung up"))
m.loop_lag.observe(0.002)
m.sync_shared()
m.sync_shared()  # a second sync adds nothing twice
print(os.getpid())
sys.stdout.write(m.exposition()[0].decode())
"""


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    out = subprocess.run(
        [sys.executable, "-c", WORKER, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    pid, _, text = out.partition("\n")
    return int(pid), text


def _value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise AssertionError(f"no {name} {labels}")


def test_workers_metrics_add_up(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    pid_a, _ = _run(env, "2", "1")
    _, text = _run(env, "3", "0")  # the second worker's /metrics covers both
    assert _value(text, "liveguard_sessions_total", transport="twilio") == 5
    assert _value(text, "liveguard_frame_forwarding_seconds_count", direction="up") == 5
    assert _value(text, "liveguard_audio_seconds_total", direction="up") == 0.1
    assert _value(text, "liveguard_event_loop_lag_seconds_count") == 2
    fast = _value(text, "liveguard_frame_forwarding_seconds_bucket", direction="up", le="0.0005")
    assert fast == 5
    # both workers have exited, their gauge files remain until the supervisor says so
    assert _value(text, "liveguard_sessions_active") == 1 + 3
    multiprocess.mark_process_dead(pid_a, str(tmp_path))  # what the supervisor does
    _, text = _run(env, "0", "0")
    assert _value(text, "liveguard_sessions_active") == 3
    assert _value(text, "liveguard_sessions_total", transport="twilio") == 5  # counters stay
