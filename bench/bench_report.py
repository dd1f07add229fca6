"""Benchmark: `liveguard report` over 10,000 session logs (target: under 30 s on 2 cores).

Generates realistic logs in a temp dir with the real `SessionLog` writer: 3-minute phone calls with
8 caller turns (VAD events, transcript fragments, model audio coalesced as the relay writes it,
usage, resumption handles, the guard's answered turns), 2% with a phantom interrupt that the guard
recovers and 0.5% wedged for good. A few template sessions are written with SessionLog, then
copied with new session ids and start times (writing is not what is measured).

Prints seconds and sessions/s for the report (summary + per-window text, all CPUs, and 1 process),
and a baseline measured in the same run: plain `json.loads` of every line of the same files.

    .venv/bin/python bench/bench_report.py [--sessions 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from liveguard import events as ev
from liveguard.report.cli import build_report
from liveguard.telemetry import SessionLog

DAY0 = 1_761_955_200.0  # 2025-11-01T00:00:00Z


def call_events(rng: random.Random, kind: str) -> list[ev.Event]:
    """One 3-minute call as the relay would log it; kind: healthy | recovered | wedged."""
    out: list[ev.Event] = [
        ev.SessionStarted(t=0.0, session_id="S", transport="twilio", model="m", sdk_version="x"),
        ev.UpstreamConnecting(t=0.0, attempt=1),
        ev.UpstreamConnected(t=0.3, attempt=1, setup_ms=300.0),
    ]
    t, chunks, turn = 0.5, 0, 1
    in_tok = out_tok = 0

    def answer(t: float, seconds: float) -> float:
        nonlocal chunks
        for i in range(int(seconds / 0.04)):
            chunks += 1
            out.append(
                ev.ModelAudio(t=t + i * 0.01, bytes=1920, gemini_audio_chunks=chunks, turn=turn)
            )
            if i % 12 == 0:
                out.append(ev.OutputTranscript(t=t + i * 0.01, text=" some words"))
        return t + seconds

    t = answer(t, 3.0)
    out.append(ev.GenerationComplete(t=t, turn=turn))
    out.append(ev.TurnComplete(t=t, turn=turn, gemini_audio_chunks=chunks, turn_audio_chunks=75))
    out.append(ev.ResumptionUpdate(t=t, handle=f"h{turn}", resumable=True, turn=turn))
    turn += 1
    if kind != "healthy":
        out.append(ev.Interrupted(t=t, turn=turn, last_user_tx="", last_user_tx_age_ms=-1))
        out.append(ev.Verdict(t=t + 0.5, kind="phantom_interrupt", turn=turn))
        out.append(ev.HealthChanged(t=t + 0.5, state="suspect", previous="healthy"))
    for k in range(8):
        t += rng.uniform(3, 8)
        out.append(ev.CallerSpeechStarted(t=t))
        for j in range(8):
            out.append(ev.InputTranscript(t=t + 0.3 + j * 0.25, text=" word"))
        t += 2.5
        out.append(ev.CallerSpeechEnded(t=t, duration_s=2.5))
        if kind == "wedged" and k > 0:
            out.append(ev.Verdict(t=t + 1.5, kind="unanswered_turn", turn=turn))
            out.append(ev.TurnComplete(t=t + 1.6, turn=turn, gemini_audio_chunks=chunks))
            in_tok += 200
            out.append(ev.Usage(t=t + 1.6, input_tokens=200, output_tokens=0, total_tokens=200))
            turn += 1
            continue
        if kind != "healthy" and k == 0:
            out.append(ev.Verdict(t=t + 1.5, kind="unanswered_turn", turn=turn))
            out.append(ev.Verdict(t=t + 1.5, kind="wedge", turn=turn))
            out.append(ev.RecoveryStarted(t=t + 1.5, rung="nudge", reason="wedge"))
            if kind == "wedged":
                out.append(ev.RecoveryFinished(t=t + 2.7, rung="nudge", outcome="timeout"))
                out.append(ev.RecoveryStarted(t=t + 2.7, rung="fallback", reason="wedge"))
                out.append(ev.RecoveryFinished(t=t + 2.7, rung="fallback", outcome="done"))
                out.append(ev.HealthChanged(t=t + 2.7, state="failed", previous="recovering"))
                turn += 1
                continue
            latency = 2.4
        else:
            latency = rng.uniform(0.5, 1.5)
        out.append(ev.Usage(t=t + 0.2, input_tokens=250, output_tokens=0, total_tokens=250))
        a = t + latency
        out.append(ev.TurnAnswered(t=a, turn=turn, latency_s=latency))
        if kind != "healthy" and k == 0:
            out.append(ev.RecoveryFinished(t=a, rung="nudge", outcome="answered"))
            out.append(ev.HealthChanged(t=a, state="healthy", previous="recovering"))
        t = answer(a, rng.uniform(3, 7))
        out.append(ev.GenerationComplete(t=t, turn=turn))
        out.append(
            ev.TurnComplete(t=t, turn=turn, gemini_audio_chunks=chunks, turn_audio_chunks=100)
        )
        out.append(ev.Usage(t=t, input_tokens=0, output_tokens=150, total_tokens=150))
        out.append(ev.ResumptionUpdate(t=t, handle=f"h{turn}", resumable=True, turn=turn))
        in_tok += 250
        out_tok += 150
        turn += 1
    t += 2
    out.append(ev.UpstreamClosed(t=t, code=1000, reason="caller hung up", side="client"))
    out.append(
        ev.SessionEnded(
            t=t,
            reason="caller hung up",
            input_tokens=in_tok,
            output_tokens=out_tok,
            gemini_audio_chunks=chunks,
        )
    )
    return out


def generate(folder: Path, sessions: int, seed: int = 1) -> dict[str, int]:
    rng = random.Random(seed)
    templates: dict[str, list[str]] = {}
    tmp = folder / "_templates"
    for kind in ("healthy", "recovered", "wedged"):
        for v in range(4):
            log = SessionLog(tmp, "S", wall0=0.0)
            for e in call_events(rng, kind):
                log(e)
            log.close()
            templates[f"{kind}{v}"] = log.path.read_text().splitlines(keepends=True)
            log.path.unlink()
    shutil.rmtree(tmp)
    counts = {"healthy": 0, "recovered": 0, "wedged": 0}
    for i in range(sessions):
        r = rng.random()
        kind = "wedged" if r < 0.005 else "recovered" if r < 0.025 else "healthy"
        counts[kind] += 1
        lines = templates[f"{kind}{rng.randrange(4)}"]
        sid = f"call-{i:05d}"
        start = DAY0 + i * 8.64  # spread over one day
        day = time.strftime("%Y-%m-%dT%H", time.gmtime(start))
        text = "".join(lines).replace('"session":"S"', f'"session":"{sid}"')
        text = text.replace('"session_id":"S"', f'"session_id":"{sid}"')
        text = text.replace("1970-01-01T00", day)  # hour of the start; good enough for windows
        sub = folder / time.strftime("%Y-%m-%d", time.gmtime(start))
        sub.mkdir(exist_ok=True)
        (sub / f"{i:05d}-{sid}.jsonl").write_text(text)
    return counts


def baseline(folder: Path) -> tuple[float, int]:
    started = time.perf_counter()
    n = 0
    loads = json.loads
    for path in sorted(folder.rglob("*.jsonl")):
        with open(path, encoding="utf-8") as fh:  # text mode: the faster way for json.loads
            for line in fh:
                loads(line)
                n += 1
    return time.perf_counter() - started, n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="lg-bench-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        counts = generate(folder, args.sessions)
        size = sum(p.stat().st_size for p in folder.rglob("*.jsonl"))
        print(
            f"generated {args.sessions} session logs ({size / 1e6:.0f} MB, {counts}) in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        base_s, lines = baseline(folder)
        print(
            f"baseline: json.loads of {lines} lines, 1 process: {base_s:.2f} s "
            f"({args.sessions / base_s:.0f} sessions/s)"
        )
        jobs = os.cpu_count() or 1
        for n in sorted({jobs, 1}, reverse=True):
            started = time.perf_counter()
            result = build_report([folder], window_s=3600, jobs=n, progress=sys.stderr)
            text = result.aggregate.text()
            secs = time.perf_counter() - started
            total = result.aggregate.total
            assert len(result.summaries) == args.sessions, len(result.summaries)
            assert total.phantom_interrupts == counts["recovered"] + counts["wedged"]
            assert total.wedged_sessions == counts["wedged"], total.wedged_sessions
            print(
                f"report, {n} process(es): {secs:.2f} s ({args.sessions / secs:.0f} sessions/s, "
                f"{secs / base_s:.1f}x the json.loads baseline), {len(text)} chars of summary, "
                f"{result.stats.bad_lines} bad lines"
            )
        print("target: under 30 s for 10,000 sessions")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
