"""Idle relay CPU: `liveguard serve` with no calls, CPU of its whole process tree over a window.

Why: a relay waits for calls most of its life; whatever it does while idle (probes, tickers) is
paid on every node around the clock. The figure is CPU seconds / wall seconds of the relay and its
workers (psutil), in percent of one core, after a settle time for the start-up work.

The same-run baseline: `--baseline-src DIR` measures another source tree (e.g. an export of the
previous commit) in the same run, one after the other.

Usage: .venv/bin/python bench/bench_idle.py [--window-s 10] [--workers 1] [--baseline-src DIR]
       [--emulator]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import psutil

from benchlib import start_ready, stop

SETTLE_S = 3.0


def _tree_cpu(root: psutil.Process) -> float:
    """CPU seconds (user + system) of `root` and its live children."""
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def measure(
    src: str | None, workers: int, window_s: float, extra: list[str], emulator: bool = False
) -> dict:
    """Start the relay from `src` (None: this tree), wait, measure, stop. Without `emulator` it
    has an API key (never used: no call is made), as in production; with it, it embeds the
    emulator, whose own loop-lag watcher ticks every 50 ms."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}
    if not emulator:
        env["LIVEGUARD_API_KEY"] = "bench-idle-key-never-used"
    if src:
        env["PYTHONPATH"] = src
    env["LIVEGUARD_LOG_DIR"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / "lg-bench-idle-logs")
    cmd = [sys.executable, "-m", "liveguard", "serve", "--port", "0", "--log-level", "WARNING"]
    cmd += extra
    if workers:
        cmd += ["--workers", str(workers)]
    proc, ready = start_ready(cmd, env)
    try:
        root = psutil.Process(proc.pid)
        time.sleep(SETTLE_S)
        c0, t0 = _tree_cpu(root), time.monotonic()
        time.sleep(window_s)
        c1, t1 = _tree_cpu(root), time.monotonic()
        procs = 1 + len(root.children(recursive=True))
    finally:
        stop(proc)
    return {
        "src": src or "this tree",
        "upstream": "embedded emulator" if emulator else "Google (configured, unused)",
        "workers": workers or 1,
        "processes": procs,
        "window_s": round(t1 - t0, 2),
        "idle_cpu_pct_of_a_core": round(100.0 * (c1 - c0) / (t1 - t0), 3),
        "url": ready.get("url"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window-s", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--baseline-src", help="another source tree to measure first")
    parser.add_argument(
        "--emulator", action="store_true", help="no API key: the relay embeds the emulator"
    )
    args = parser.parse_args()
    window = min(max(args.window_s, 2.0), 30.0)  # bounded: this is a short bench
    if args.baseline_src:
        base = measure(args.baseline_src, 0, window, [], args.emulator)
        print(json.dumps({"baseline": True, **base}))
    print(json.dumps(measure(None, args.workers, window, [], args.emulator)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
