"""What the benchmarks share: percentiles and the child processes they measure.

Each bench runs the system under test in its own processes (`liveguard emulate`, `liveguard
serve`, an echo relay), which print one JSON line when ready; these helpers start them, read that
line, and stop them (bounded) whatever happens.
"""

from __future__ import annotations

import json
import signal
import subprocess


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def start_ready(cmd: list[str], env: dict | None = None) -> tuple[subprocess.Popen, dict]:
    """Start `cmd` and return it with the JSON line it prints when ready."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.kill()
        raise SystemExit(f"{cmd[2:4]} did not start")
    return proc, json.loads(line)


def stop(proc: subprocess.Popen, timeout: float = 40.0) -> None:
    """SIGTERM (a graceful shutdown), then kill if it takes longer than `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
