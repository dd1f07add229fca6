"""How many real-time sessions one emulator process sustains, and its CPU per session.

The emulator runs as `liveguard emulate` in a subprocess pinned to one core; this process (the load)
is pinned to the other core when there is one. Each session is a raw WebSocket client that sends
the frames the SDK sends: 20 ms of 16 kHz PCM16 every 20 ms, real time, a shipped utterance clip
followed by silence (so the emulator's server VAD ends the turn), and reads the model's 24 kHz audio
replies. For each session count we measure, in the same run:

- emulator loop lag: how late the emulator's event loop runs a 50 ms heartbeat, i.e. how late it
  serves frames and the model's deadlines — the emulator-side lateness, independent of the load;
- baseline: emulator CPU with the same number of connections open but idle (setup done, no audio);
- active: emulator CPU while every session streams audio both ways;
- CPU per session = (active - baseline) / N, and active / N;
- send lateness (how late the load sent frames: if this grows, the load is the bottleneck, not
  the emulator) and reply latency (end of caller speech → first model audio chunk).

A session count is "sustained" when every session got at least one answered turn, no session was
dropped, the emulator used less than 90% of its core and its event loop lag stayed under 100 ms
at p99 (a starved emulator uses little CPU *and* lags: both are checked). CPU per session is only
meaningful at levels that were sustained. On a shared machine other processes on the emulator's
core show up as loop lag with low emulator CPU. Loopback only, bounded, stops by itself.

    .venv/bin/python bench/bench_emulator.py [--sessions 50,100,200] [--seconds 12]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from websockets.asyncio.client import connect

from liveguard.audio.clips import load_clip, utterance_names
from liveguard.emulator.tls import client_ssl_context

FRAME_MS = 20
FRAME_BYTES = 16000 * 2 * FRAME_MS // 1000  # 640 bytes of PCM16
MODEL = "models/gemini-2.5-flash-native-audio-preview-12-2025"
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
MAX_SESSIONS = 1000


def _frame(pcm: bytes) -> str:
    """The exact text frame the SDK sends for `send_realtime_input(audio=...)`."""
    data = base64.urlsafe_b64encode(pcm).decode("ascii")
    return json.dumps(
        {"realtime_input": {"audio": {"data": data, "mime_type": "audio/pcm;rate=16000"}}}
    )


def _utterance_frames() -> list[list[str]]:
    out = []
    for name in utterance_names():
        pcm = load_clip(name, 16000).pcm
        pcm += b"\0" * (-len(pcm) % FRAME_BYTES)
        out.append([_frame(pcm[i : i + FRAME_BYTES]) for i in range(0, len(pcm), FRAME_BYTES)])
    return out


@dataclass
class SessionResult:
    ok: bool = False
    error: str | None = None
    turns_answered: int = 0
    audio_chunks: int = 0
    lateness_ms: list[float] = field(default_factory=list)
    reply_latency_ms: list[float] = field(default_factory=list)


class Session:
    """One raw client: connect, setup, then (when told) stream audio in real time."""

    def __init__(self, ready: dict, index: int, utterances: list[list[str]], silence: str) -> None:
        self.ready = ready
        self.index = index
        self.utterances = utterances
        self.silence = silence
        self.result = SessionResult()
        self.ws = None
        self._speech_end: float | None = None
        self._first_audio_seen = True
        self._reader: asyncio.Task | None = None

    async def open(self) -> None:
        uri = self.ready["base_url"].replace("https://", "wss://") + PATH
        self.ws = await connect(
            uri,
            ssl=client_ssl_context(self.ready["ca_file"]),
            additional_headers={"x-goog-api-key": self.ready["api_key"]},
            compression=None,
            open_timeout=30,
            ping_interval=None,
        )
        setup = {
            "setup": {
                "model": MODEL,
                "generationConfig": {"responseModalities": ["AUDIO"]},
                "inputAudioTranscription": {},
                "outputAudioTranscription": {},
            }
        }
        await self.ws.send(json.dumps(setup))
        first = await self.ws.recv()
        if b"setupComplete" not in first:
            raise RuntimeError(f"unexpected first frame {first[:80]!r}")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if b'"inlineData"' in msg:
                    self.result.audio_chunks += 1
                    if not self._first_audio_seen and self._speech_end is not None:
                        self._first_audio_seen = True
                        latency = (time.monotonic() - self._speech_end) * 1000
                        self.result.reply_latency_ms.append(latency)
                if b'"turnComplete":true' in msg:
                    self.result.turns_answered += 1
        except Exception as exc:  # recorded, the run goes on
            self.result.error = f"{type(exc).__name__}: {exc}"

    async def stream(self, until: float, start_at: float) -> None:
        """Send 20 ms frames on a fixed real-time grid until `until`."""
        lateness = self.result.lateness_ms
        t = start_at + (self.index % 50) * FRAME_MS / 1000 / 50  # spread sends over a frame
        u = self.index % len(self.utterances)
        plan: list[str] = []
        pos = 0
        try:
            while t < until:
                if pos >= len(plan):  # next cycle: an utterance then 3 s of silence
                    plan = self.utterances[u] + [self.silence] * (3000 // FRAME_MS)
                    u = (u + 1) % len(self.utterances)
                    speech_frames = len(plan) - 3000 // FRAME_MS
                    pos = 0
                delay = t - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = time.monotonic()
                lateness.append(max(0.0, now - t) * 1000)
                await self.ws.send(plan[pos])
                pos += 1
                if pos == speech_frames:
                    self._speech_end = now
                    self._first_audio_seen = False
                t += FRAME_MS / 1000
            self.result.ok = self.result.error is None
        except Exception as exc:
            self.result.error = f"{type(exc).__name__}: {exc}"

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def _cpu_over(proc: psutil.Process, seconds: float) -> float:
    """CPU of `proc` (fraction of one core) over the next `seconds`."""
    t0 = proc.cpu_times()
    w0 = time.monotonic()
    await asyncio.sleep(seconds)
    t1 = proc.cpu_times()
    return ((t1.user + t1.system) - (t0.user + t0.system)) / (time.monotonic() - w0)


async def run_level(
    ready: dict,
    proc: psutil.Process,
    n: int,
    seconds: float,
    utterances: list[list[str]],
    silence: str,
) -> dict:
    sessions = [Session(ready, i, utterances, silence) for i in range(n)]
    sem = asyncio.Semaphore(20)  # bounded connection burst

    async def open_one(s: Session) -> None:
        async with sem:
            await s.open()

    await asyncio.gather(*(open_one(s) for s in sessions))
    await asyncio.sleep(1.0)
    idle_cpu = await _cpu_over(proc, 3.0)

    start = time.monotonic() + 0.2
    until = start + seconds
    streams = [asyncio.create_task(s.stream(until, start)) for s in sessions]
    await asyncio.sleep(2.5)  # warm-up: first turns under way
    me = psutil.Process()
    m0 = me.cpu_times()
    w0 = time.monotonic()
    active_cpu = await _cpu_over(proc, max(1.0, seconds - 3.0))
    m1 = me.cpu_times()
    load_cpu = ((m1.user + m1.system) - (m0.user + m0.system)) / (time.monotonic() - w0)
    await asyncio.gather(*streams)
    window = (w0, time.monotonic())
    await asyncio.sleep(0.5)
    for s in sessions:
        await s.close()

    lateness = [x for s in sessions for x in s.result.lateness_ms]
    replies = [x for s in sessions for x in s.result.reply_latency_ms]
    answered = sum(1 for s in sessions if s.result.turns_answered >= 1)
    dropped = sum(1 for s in sessions if s.result.error)
    sustained = answered == n and dropped == 0 and active_cpu < 0.9  # loop lag checked later
    return {
        "sessions": n,
        "sustained": sustained,
        "answered_sessions": answered,
        "dropped_sessions": dropped,
        "turns_answered": sum(s.result.turns_answered for s in sessions),
        "model_audio_chunks": sum(s.result.audio_chunks for s in sessions),
        "emulator_cpu_idle_set": round(idle_cpu, 3),
        "emulator_cpu_active": round(active_cpu, 3),
        "cpu_ms_per_session_s": round(1000 * (active_cpu - idle_cpu) / n, 3),
        "cpu_ms_per_session_s_total": round(1000 * active_cpu / n, 3),
        "load_process_cpu": round(load_cpu, 3),
        "send_lateness_ms_p50": round(_pct(lateness, 0.50), 2),
        "send_lateness_ms_p99": round(_pct(lateness, 0.99), 2),
        "reply_latency_ms_p50": round(_pct(replies, 0.50), 1),
        "reply_latency_ms_p99": round(_pct(replies, 0.99), 1),
        "window": window,
        "errors": sorted({s.result.error for s in sessions if s.result.error})[:3],
    }


async def main_async(args: argparse.Namespace) -> int:
    levels = [min(MAX_SESSIONS, int(x)) for x in args.sessions.split(",") if x.strip()]
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
    tmp = tempfile.TemporaryDirectory(prefix="bench-emulator-")
    stats_file = Path(tmp.name) / "stats.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *profile,
        "-m",
        "liveguard",
        "emulate",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--scenario",
        args.scenario,
        "--stats-file",
        str(stats_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    pinned = "no"
    try:
        if len(cpus) >= 2:
            os.sched_setaffinity(proc.pid, {cpus[0]})
            os.sched_setaffinity(0, {cpus[1]})
            pinned = f"emulator on cpu {cpus[0]}, load on cpu {cpus[1]}"
        elif cpus:
            os.sched_setaffinity(proc.pid, {cpus[0]})
            pinned = f"emulator and load share cpu {cpus[0]}"
        ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
        ps = psutil.Process(proc.pid)
        utterances = _utterance_frames()
        silence = _frame(b"\0" * FRAME_BYTES)
        print(
            f"# emulator pid {proc.pid}; {pinned}; scenario {args.scenario}; "
            f"{args.seconds:.0f} s of real-time audio per level",
            flush=True,
        )
        empty_cpu = await _cpu_over(ps, 2.0)
        print(json.dumps({"baseline_no_connections_cpu": round(empty_cpu, 4)}), flush=True)
        results = []
        for n in levels:
            res = await run_level(ready, ps, n, args.seconds, utterances, silence)
            results.append(res)
            print(json.dumps({k: v for k, v in res.items() if k != "window"}), flush=True)
            await asyncio.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
        samples = json.loads(stats_file.read_text())["loop_lag"]
        for res in results:
            lo, hi = res.pop("window")
            late = [x * 1000 for t, x in samples if lo <= t <= hi]
            lag_p99 = _pct(late, 0.99)
            res["sustained"] = bool(res["sustained"] and late and lag_p99 < 100.0)
            print(
                json.dumps(
                    {
                        "sessions": res["sessions"],
                        "sustained": res["sustained"],
                        "emulator_loop_lag_ms_p50": round(_pct(late, 0.50), 2),
                        "emulator_loop_lag_ms_p99": round(_pct(late, 0.99), 2),
                        "emulator_lag_samples": len(late),
                    }
                ),
                flush=True,
            )
        best = max((r["sessions"] for r in results if r["sustained"]), default=0)
        print(
            json.dumps(
                {"max_sustained_sessions_one_core": best, "target": 200, "met": best >= 200}
            ),
            flush=True,
        )
        return 0
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        tmp.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="50,100,200", help="comma-separated session counts")
    parser.add_argument("--seconds", type=float, default=12.0, help="audio seconds per level")
    parser.add_argument("--scenario", default="healthy")
    parser.add_argument("--profile", help="write a cProfile of the emulator process here")
    args = parser.parse_args()
    args.seconds = min(max(args.seconds, 5.0), 120.0)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
