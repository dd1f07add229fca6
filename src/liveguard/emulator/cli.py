"""`liveguard emulate`: run the emulator until SIGINT/SIGTERM.

When ready it prints exactly one JSON line on stdout — `{"base_url", "ca_file", "api_key"}` — so a
script can start it with `--port 0` and read where to connect; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import signal
import sys
from pathlib import Path

from liveguard import eventloop
from liveguard.emulator.server import DEFAULT_API_KEY, Emulator

FULL_GC_EVERY = 100  # middle-generation passes before a full collection (Python default: 10)

log = logging.getLogger("liveguard.emulator")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    parser.add_argument(
        "--scenario", default="healthy", help="built-in scenario name or a scenario YAML file"
    )
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the key clients must send")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="keep the CA here (reused across runs); default: a temporary directory",
    )
    parser.add_argument(
        "--list-scenarios", action="store_true", help="list the built-in scenarios and exit"
    )
    parser.add_argument(
        "--stats-file",
        type=Path,
        default=None,
        help="on exit, write session and event-loop-lag figures here as JSON (for benches)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every session")


def run(args: argparse.Namespace) -> int:
    from liveguard.emulator.scenario import ScenarioError, builtin_scenarios

    if args.list_scenarios:
        for name, description in sorted(builtin_scenarios().items()):
            print(f"{name:24} {description}")
        return 0
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        return eventloop.run(_serve(args))
    except ScenarioError as exc:
        print(f"liveguard emulate: bad scenario: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"liveguard emulate: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 2


async def _serve(args: argparse.Namespace) -> int:
    emulator = Emulator(
        host=args.host,
        port=args.port,
        scenario=args.scenario,
        api_key=args.api_key,
        state_dir=args.state_dir,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await emulator.start()
    # Everything loaded so far (the SDK's types behind the wire schema, numpy, the clips) lives
    # as long as the process: keep it out of the collector's full passes, and make those passes
    # ten times rarer. Each one stalled every session for 50-100 ms under load (docs/emulator.md).
    eventloop.freeze_startup_heap()
    gen0, gen1, _ = gc.get_threshold()
    gc.set_threshold(gen0, gen1, FULL_GC_EVERY)
    try:
        ready = {
            "base_url": emulator.base_url,
            "ca_file": emulator.ca_file,
            "api_key": emulator.api_key,
        }
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        print(
            f"liveguard emulator on {emulator.base_url} (scenario {args.scenario}); Ctrl-C to stop",
            file=sys.stderr,
        )
        await stop.wait()
    finally:
        await emulator.stop()
        if args.stats_file is not None:
            _write_stats(emulator, args.stats_file)
    return 0


def _write_stats(emulator: Emulator, path: Path) -> None:
    """Figures for a bench: per-session counters and event-loop lag samples."""
    sessions = [
        {
            "scenario": s.scenario,
            "frames_received": s.frames_received,
            "frames_sent": s.frames_sent,
            "audio_frames_received": s.audio_frames_received,
            "close_code": s.close_code,
            "close_side": s.close_side,
            "error": s.error,
        }
        for s in emulator.sessions
    ]
    lag = [[round(t, 4), round(late, 5)] for t, late in emulator.loop_lag]
    path.write_text(json.dumps({"sessions": sessions, "loop_lag": lag}))
