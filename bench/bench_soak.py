"""Guard soak: ≥ 200 short simulated phone calls through the relay, with a seeded fault mix.

Three processes, 127.0.0.1 only: `liveguard emulate` (the model), a relay worker (this file with
`--relay-worker`: one in-process `Relay` per scenario, so each call picks its scenario through the
emulator's per-connection header and every session log lands in its scenario's directory), and
this process, which runs `--concurrency` callers at a time (`liveguard call` logic: Twilio
protocol, real-time μ-law, playout simulated) until `--calls` calls are done.

The fault mix (each call draws one scenario, seeded): phantom interrupts on `--phantom-share` of
calls (default 20 %), a quarter of them wedging (seed-2333, phantom-late-wedge, poisoned-handle)
and the rest recovering by themselves (phantom-recovers), plus 1011 drops mid-answer and goAways
mid-answer; the rest are healthy. The incident report gives 4 phantom interrupts in 6 h (peak 6 in
1 h) without a call volume; we assume it is at most 2 % of calls, so 20 % is ≥ 10× its rate.

Reported:
- share of caller turns answered (target 100 %);
- caller end of speech → first model audio, p50/p99, for healthy calls (the baseline, same run)
  and for fault calls;
- caller silence: the maximum, and how many turns waited over 6 s (target: none);
- time to recover by rung, from the session logs: each successful rung's own duration, and the
  ladder's time from its first rung's start to the answer;
- false detections: fault verdicts (phantom, unanswered, wedge) on calls whose scenario has no
  phantom or wedge, plus any but `phantom_interrupt` on calls whose phantom does not wedge (target:
  zero). `real_interrupt` (caller speech over an answer, flushed) is listed, not counted.
Bounded: a fixed number of calls, each with a time limit, and a wall-clock cap; stops by itself.

Usage: .venv/bin/python bench/bench_soak.py [--calls 200] [--concurrency 20] [--seed 2333]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import ssl
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from benchlib import percentile, start_ready, stop
from liveguard.caller.script import parse_script
from liveguard.caller.simulated import CallResult, run_call

MAX_CALLS = 1000  # hard bounds whatever the command line says
MAX_CONCURRENCY = 50
CALL_LIMIT_S = 90.0
SILENCE_TARGET_S = 6.0

WEDGING = {"seed-2333": 2, "phantom-late-wedge": 1, "poisoned-handle": 1}  # relative weights
NO_VERDICT = {"healthy", "drop-1011", "goaway-mid-answer"}  # any verdict here is false
PHANTOM_ONLY = {"phantom-recovers"}  # only phantom_interrupt verdicts are right here
UTTERANCES = ["check_order", "order_number", "opening_hours", "change_address", "thanks_bye"]


def scenario_weights(phantom_share: float, drop_share: float, goaway_share: float) -> dict:
    """Per-call probabilities; a quarter of the phantom calls wedge."""
    wedge_total = sum(WEDGING.values())
    w = {name: phantom_share * 0.25 * k / wedge_total for name, k in WEDGING.items()}
    w["phantom-recovers"] = phantom_share * 0.75
    w["drop-1011"] = drop_share
    w["goaway-mid-answer"] = goaway_share
    w["healthy"] = max(0.0, 1.0 - sum(w.values()))
    return w


def script_for(rng: random.Random) -> Any:
    """Greeting, then two caller turns; 2 s of quiet ends an answer (a re-asked one is heard)."""
    first, second = rng.sample(UTTERANCES[:-1], 2)
    wait = {"wait_answer": {"timeout": 20, "quiet": 2.0}}
    steps = [wait, {"say": first}, wait, {"say": second}, wait]
    return parse_script({"name": "soak", "steps": steps})


# --------------------------------------------------------------------------- relay worker


async def relay_worker(args: argparse.Namespace) -> int:
    """One Relay per scenario around one SDK client; prints {scenario: twilio_url}; runs until
    SIGTERM/SIGINT (or its own time limit)."""
    from liveguard.config.settings import Settings
    from liveguard.relay.server import Relay
    from liveguard.session.config import make_client

    emu = json.loads(args.emulator)
    ctx = ssl.create_default_context(cafile=emu["ca_file"])
    base = Settings.load(None, port=0, log_dir=Path(args.log_root) / "x", api_key=emu["api_key"])
    client = make_client(base, base_url=emu["base_url"], ssl_context=ctx)
    relays: dict[str, Relay] = {}
    for name in args.scenarios.split(","):
        s = Settings.load(
            None,
            port=0,
            log_dir=Path(args.log_root) / name,
            api_key=emu["api_key"],
            # every simulated caller comes from 127.0.0.1: lift the per-source admission limits
            max_calls_per_source=10_000,
            new_calls_per_source_per_min=100_000,
        )
        relay = Relay(s, client=client, emulated=True)
        await relay.start()
        relays[name] = relay
    print(json.dumps({n: r.twilio_url for n, r in relays.items()}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.max_wall)
    for relay in relays.values():
        await relay.stop()
    return 0


# --------------------------------------------------------------------------- the soak


async def soak(args: argparse.Namespace, urls: dict[str, str]) -> list[tuple[str, CallResult]]:
    rng = random.Random(args.seed)
    weights = scenario_weights(args.phantom_share, args.drop_share, args.goaway_share)
    names = list(weights)
    plan = [
        (rng.choices(names, [weights[n] for n in names])[0], script_for(rng))
        for _ in range(args.calls)
    ]
    queue: asyncio.Queue = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)
    results: list[tuple[str, CallResult]] = []
    t0 = time.monotonic()

    async def worker() -> None:
        while not queue.empty() and time.monotonic() - t0 < args.max_wall:
            scenario, script = queue.get_nowait()
            try:
                result = await run_call(
                    urls[scenario],
                    script,
                    parameters={"scenario": scenario},
                    max_duration_s=CALL_LIMIT_S,
                )
            except Exception as exc:  # a call that could not even connect still counts
                result = CallResult(errors=[f"call failed: {exc!r}"])
            results.append((scenario, result))
            if len(results) % 20 == 0:
                print(f"  {len(results)} calls done ({time.monotonic() - t0:.0f} s)", flush=True)

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return results


def read_logs(log_root: Path) -> dict[str, list[list[dict]]]:
    out: dict[str, list[list[dict]]] = defaultdict(list)
    for path in sorted(log_root.glob("*/*.jsonl")):
        recs = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        out[path.parent.name].append(recs)
    return out


def ladder_times(records: list[dict]) -> list[tuple[str, float, float]]:
    """(succeeding rung, its own duration, time from the ladder's first rung start) per ladder."""
    out = []
    ladder_start: float | None = None
    for r in records:
        if r["event"] == "recovery_start" and r["rung"] != "rotate" and ladder_start is None:
            ladder_start = r["t"]
        elif r["event"] == "recovery_end" and r["rung"] != "rotate":
            if r["outcome"] in ("answered", "done"):
                start = ladder_start if ladder_start is not None else r["t"] - r["duration_s"]
                out.append((r["rung"], r["duration_s"], r["t"] - start))
                ladder_start = None
        elif r["event"] == "recovery_end" and r["rung"] == "rotate" and r["outcome"] == "done":
            out.append(("rotate", r["duration_s"], r["duration_s"]))
    return out


def report(results: list[tuple[str, CallResult]], logs: dict, wall: float) -> dict:
    turns = [(sc, t) for sc, r in results for t in r.turns]
    answered = sum(1 for _, t in turns if t["answered"])
    healthy_lat = [
        t["end_of_speech_to_first_audio_s"] for sc, t in turns if sc == "healthy" and t["answered"]
    ]
    fault_lat = [
        t["end_of_speech_to_first_audio_s"] for sc, t in turns if sc != "healthy" and t["answered"]
    ]
    all_lat = healthy_lat + fault_lat
    silences = [t["silence_s"] for _, t in turns]
    errors = [e for _, r in results for e in r.errors]
    mix = Counter(sc for sc, _ in results)

    false: Counter = Counter()
    verdicts: Counter = Counter()
    recover: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for scenario, sessions in logs.items():
        for recs in sessions:
            for r in recs:
                if r["event"] == "verdict":
                    verdicts[(scenario, r["kind"])] += 1
                    if r["kind"] == "real_interrupt":
                        continue  # the caller spoke over an answer: a barge-in, rightly flushed
                    if scenario in NO_VERDICT or (
                        scenario in PHANTOM_ONLY and r["kind"] != "phantom_interrupt"
                    ):
                        false[(scenario, r["kind"])] += 1
            for rung, own, total in ladder_times(recs):
                recover[rung].append((own, total))

    print(f"\ncalls: {len(results)} in {wall:.0f} s; mix: {dict(sorted(mix.items()))}")
    share = 100 * answered / max(1, len(turns))
    print(f"caller turns answered: {answered}/{len(turns)} ({share:.2f} %)")
    print(
        "end of speech -> model audio (s): "
        f"all p50 {percentile(all_lat, 0.5):.2f} p99 {percentile(all_lat, 0.99):.2f}; "
        f"healthy calls (baseline) p50 {percentile(healthy_lat, 0.5):.2f} "
        f"p99 {percentile(healthy_lat, 0.99):.2f}; "
        f"fault calls p50 {percentile(fault_lat, 0.5):.2f} p99 {percentile(fault_lat, 0.99):.2f}"
    )
    over = [(sc, t["silence_s"]) for sc, t in turns if t["silence_s"] > SILENCE_TARGET_S]
    print(
        f"caller silence: max {max(silences, default=0):.2f} s; turns over "
        f"{SILENCE_TARGET_S:.0f} s: {len(over)} {sorted(over, key=lambda x: -x[1])[:10]}"
    )
    print("time to recover by rung (successful rungs; own duration / from the ladder's start):")
    for rung in ("nudge", "resume", "fresh", "fallback", "rotate"):
        xs = recover.get(rung, [])
        if xs:
            own = [a for a, _ in xs]
            total = [b for _, b in xs]
            print(
                f"  {rung:8s} n={len(xs):3d}  own p50 {statistics.median(own):.2f} "
                f"max {max(own):.2f}  ladder p50 {statistics.median(total):.2f} "
                f"max {max(total):.2f}"
            )
    print(f"verdicts: {dict(sorted(verdicts.items()))}")
    print(f"false detections: {sum(false.values())} {dict(false)}")
    if errors:
        print(f"caller errors: {len(errors)} e.g. {errors[:3]}")
    return {
        "answered_share": answered / max(1, len(turns)),
        "false_detections": sum(false.values()),
        "max_silence_s": max(silences, default=0.0),
    }


async def main_async(args: argparse.Namespace) -> int:
    args.calls = min(args.calls, MAX_CALLS)
    args.concurrency = max(1, min(args.concurrency, MAX_CONCURRENCY, args.calls))
    with tempfile.TemporaryDirectory(prefix="lg-soak-") as tmp:
        log_root = Path(tmp) / "logs"
        emu_proc, emu = start_ready(
            [sys.executable, "-m", "liveguard", "emulate", "--port", "0", "--host", "127.0.0.1"]
        )
        relay_proc = None
        try:
            scenarios = list(scenario_weights(0.2, 0.1, 0.1))
            relay_proc, urls = start_ready(
                [
                    sys.executable,
                    __file__,
                    "--relay-worker",
                    "--emulator",
                    json.dumps(emu),
                    "--log-root",
                    str(log_root),
                    "--scenarios",
                    ",".join(scenarios),
                    "--max-wall",
                    str(args.max_wall + 120),
                ]
            )
            assert all(u.startswith("ws://127.0.0.1:") for u in urls.values())
            print(
                f"soak: {args.calls} calls, {args.concurrency} at a time, seed {args.seed}, "
                f"phantom share {args.phantom_share:.0%} (a quarter wedging), "
                f"1011 drops {args.drop_share:.0%}, goAways {args.goaway_share:.0%}",
                flush=True,
            )
            t0 = time.monotonic()
            results = await soak(args, urls)
            wall = time.monotonic() - t0
        finally:
            if relay_proc is not None:
                stop(relay_proc)  # flushes every session log
            stop(emu_proc)
        figures = report(results, read_logs(log_root), wall)
    ok = (
        figures["answered_share"] == 1.0
        and figures["false_detections"] == 0
        and figures["max_silence_s"] <= SILENCE_TARGET_S
    )
    verdict = "met" if ok else "NOT met"
    print(f"targets (100 % answered, no silence over 6 s, zero false detections): {verdict}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--seed", type=int, default=2333)
    p.add_argument("--phantom-share", type=float, default=0.20)
    p.add_argument("--drop-share", type=float, default=0.10)
    p.add_argument("--goaway-share", type=float, default=0.10)
    p.add_argument("--max-wall", type=float, default=330.0, help="stop starting calls after this")
    p.add_argument("--relay-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--emulator", help=argparse.SUPPRESS)
    p.add_argument("--log-root", help=argparse.SUPPRESS)
    p.add_argument("--scenarios", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.relay_worker:
        return asyncio.run(relay_worker(args))
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
