"""Relay load bench: N concurrent simulated phone calls through `liveguard serve` (a subprocess) to
`liveguard emulate` (another subprocess), stepping N up until p99 added latency passes 5 ms.

Per step it runs, at the same time and against the same emulator:
- N relay calls: `liveguard call` logic (Twilio protocol, μ-law 8 kHz, real-time 20 ms frames);
- a few direct calls: the google-genai SDK straight to the emulator, same utterances at 16 kHz.

Reported per step:
- added latency: caller end of speech → first model audio, relay path minus direct path (p50, p99);
- relay CPU per 20 ms frame pair (process CPU over the step / frames each way), and the relay's
  own in-handler time per frame each way (VAD included on the way up) from its /metrics histogram;
- relay memory per call (RSS with N calls up, minus RSS idle, / N).
127.0.0.1 only; every loop is bounded; the subprocesses are stopped at the end.

Usage: .venv/bin/python bench/bench_relay.py [--steps 10,25,50,100] [--turns 2] [--direct 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

from liveguard.audio import mulaw
from liveguard.audio.clips import load_clip
from liveguard.audio.resample import Resampler
from liveguard.caller import run_call
from liveguard.caller_script import parse_script

UTTERANCES = ["check_order", "order_number", "opening_hours", "thanks_bye"]
MAX_STEP_CALLS = 400  # hard bound whatever the command line says


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def script_for(turns: int, offset: int) -> dict:
    steps: list[dict] = [{"wait_answer": 15}]
    for i in range(turns):
        steps += [{"say": UTTERANCES[(offset + i) % len(UTTERANCES)]}, {"wait_answer": 15}]
    return {"name": "bench", "steps": steps}


# --------------------------------------------------------------------------- subprocesses


def start_emulator(env: dict) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "liveguard", "emulate", "--port", "0", "--scenario", "healthy"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    info = json.loads(proc.stdout.readline())
    return proc, info


def start_relay(
    env: dict, emu: dict, log_dir: Path, max_calls: int
) -> tuple[subprocess.Popen, dict]:
    renv = dict(env)
    renv.update(
        LIVEGUARD_API_KEY=emu["api_key"],
        LIVEGUARD_UPSTREAM_BASE_URL=emu["base_url"],
        LIVEGUARD_UPSTREAM_CA_FILE=emu["ca_file"],
        LIVEGUARD_LOG_DIR=str(log_dir),
        LIVEGUARD_MAX_CALLS=str(max_calls),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "liveguard", "serve", "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=renv,
    )
    info = json.loads(proc.stdout.readline())
    return proc, info


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


# --------------------------------------------------------------------------- the direct path


async def direct_call(emu: dict, turns: int, offset: int) -> list[float]:
    """The SDK straight to the emulator: end of speech → first audio per turn, seconds."""
    from google import genai
    from google.genai import types

    ctx = ssl.create_default_context(cafile=emu["ca_file"])
    client = genai.Client(
        api_key=emu["api_key"],
        http_options=types.HttpOptions(base_url=emu["base_url"], async_client_args={"ssl": ctx}),
    )
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        input_audio_transcription=types.AudioTranscriptionConfig(),
    )
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    state = {"eos": None, "first": None, "last_audio": 0.0}
    async with client.aio.live.connect(
        model="gemini-2.5-flash-native-audio-preview-09-2025", config=config
    ) as session:

        async def receiver() -> None:
            while True:
                async for msg in session.receive():
                    sc = msg.server_content
                    if sc and sc.model_turn and sc.model_turn.parts:
                        now = loop.time()
                        state["last_audio"] = now
                        if state["eos"] is not None and state["first"] is None:
                            state["first"] = now

        rx = asyncio.create_task(receiver())
        await session.send_realtime_input(text="Greet the caller briefly.")
        await asyncio.sleep(4.0)
        silence = b"\x00" * 640
        for i in range(turns):
            # the same audio the relay sends upstream: μ-law 8 kHz, decoded, resampled to 16 kHz
            clip8 = load_clip(UTTERANCES[(offset + i) % len(UTTERANCES)], 8000).pcm
            pcm = Resampler(8000, 16000).process(mulaw.decode(mulaw.encode(clip8)))
            frames = [pcm[j : j + 640] for j in range(0, len(pcm), 640)]
            state["eos"], state["first"] = None, None
            t0 = loop.time()
            for n, f in enumerate(frames + [silence] * 300):
                if n == len(frames):
                    state["eos"], state["first"] = loop.time(), None
                await session.send_realtime_input(
                    audio=types.Blob(data=f.ljust(640, b"\x00"), mime_type="audio/pcm;rate=16000")
                )
                if state["first"] is not None and loop.time() - state["last_audio"] > 1.0:
                    break
                await asyncio.sleep(max(0.0, t0 + (n + 1) * 0.02 - loop.time()))
            if state["first"] is not None:
                latencies.append(state["first"] - state["eos"])
            state["eos"] = None
        rx.cancel()
    return latencies


# --------------------------------------------------------------------------- metrics


async def relay_metrics(http: aiohttp.ClientSession, url: str) -> dict[str, dict[str, float]]:
    """The relay's frame forwarding histogram: {direction: {le: cumulative count, sum, count}}."""
    text = await (await http.get(url + "/metrics")).text()
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = re.match(r"liveguard_frame_forwarding_seconds_(bucket|sum|count)\{(.*)\} (\S+)", line)
        if not m:
            continue
        kind, labels, value = m.groups()
        d = re.search(r'direction="(\w+)"', labels).group(1)
        if kind == "bucket":
            le = re.search(r'le="([^"]+)"', labels).group(1)
            out.setdefault(d, {})[le] = float(value)
        else:
            out.setdefault(d, {})[kind] = float(value)
    return out


def hist_delta(a: dict, b: dict) -> dict:
    return {d: {k: b[d].get(k, 0) - a.get(d, {}).get(k, 0) for k in b[d]} for d in b}


def hist_quantile(h: dict[str, float], q: float) -> float:
    buckets = sorted(
        ((float(le), c) for le, c in h.items() if le not in ("sum", "count")), key=lambda x: x[0]
    )
    total = h.get("count", 0)
    if not total:
        return float("nan")
    target = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= target:
            if le == float("inf"):
                return prev_le
            frac = (target - prev_c) / max(c - prev_c, 1e-9)
            return prev_le + (le - prev_le) * frac
        prev_le, prev_c = le, c
    return prev_le


# --------------------------------------------------------------------------- one step


async def run_step(n: int, turns: int, direct_n: int, relay: dict, emu: dict, rproc) -> dict:
    ps = psutil.Process(rproc.pid)
    async with aiohttp.ClientSession() as http:
        rss_idle = ps.memory_info().rss
        m0 = await relay_metrics(http, relay["url"])
        cpu0 = ps.cpu_times()
        t0 = time.monotonic()
        peak_rss = [rss_idle]

        async def sampler() -> None:
            while True:
                await asyncio.sleep(1.0)
                peak_rss[0] = max(peak_rss[0], ps.memory_info().rss)

        samp = asyncio.create_task(sampler())
        relay_calls = [
            run_call(
                relay["twilio_stream"],
                parse_script(script_for(turns, 0), "bench"),
                max_duration_s=120,
            )
            for i in range(n)
        ]
        direct_calls = [direct_call(emu, turns, 0) for _ in range(direct_n)]
        results = await asyncio.gather(*relay_calls, *direct_calls, return_exceptions=True)
        samp.cancel()
        cpu1 = ps.cpu_times()
        wall = time.monotonic() - t0
        m1 = await relay_metrics(http, relay["url"])
    relay_res = results[:n]
    direct_res = results[n:]
    relay_lat: list[float] = []
    frames_up = frames_down = unanswered = errors = 0
    for r in relay_res:
        if isinstance(r, BaseException):
            errors += 1
            continue
        frames_up += r.summary["frames_sent"]
        frames_down += r.summary["frames_received"]
        unanswered += r.summary["unanswered"]
        relay_lat += [t["end_of_speech_to_first_audio_s"] for t in r.turns if t["answered"]]
    direct_lat = [x for r in direct_res if not isinstance(r, BaseException) for x in r]
    direct_errors = sum(1 for r in direct_res if isinstance(r, BaseException))
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    h = hist_delta(m0, m1)
    up, down = h.get("up", {}), h.get("down", {})
    pairs = max(1, min(frames_up, frames_down))
    return {
        "calls": n,
        "errors": errors,
        "unanswered_turns": unanswered,
        "wall_s": round(wall, 1),
        "relay_cpu_cores": round(cpu / wall, 3),
        "relay_cpu_us_per_frame_up_plus_down": round(
            cpu / max(1, frames_up + frames_down) * 2e6, 1
        ),
        "relay_cpu_us_per_frame_pair_all_in": round(cpu / pairs * 1e6, 1),
        "handler_us_up_mean": round(up.get("sum", 0) / max(1, up.get("count", 0)) * 1e6, 1),
        "handler_us_down_mean": round(down.get("sum", 0) / max(1, down.get("count", 0)) * 1e6, 1),
        "handler_ms_up_p99": round(hist_quantile(up, 0.99) * 1e3, 3),
        "handler_ms_down_p99": round(hist_quantile(down, 0.99) * 1e3, 3),
        "eos_to_audio_relay_p50_s": round(percentile(relay_lat, 0.5), 4),
        "eos_to_audio_relay_p99_s": round(percentile(relay_lat, 0.99), 4),
        "eos_to_audio_direct_p50_s": round(percentile(direct_lat, 0.5), 4),
        "eos_to_audio_direct_p99_s": round(percentile(direct_lat, 0.99), 4),
        "added_latency_p50_ms": round(
            (percentile(relay_lat, 0.5) - percentile(direct_lat, 0.5)) * 1e3, 1
        ),
        "added_latency_p99_ms": round(
            (percentile(relay_lat, 0.99) - percentile(direct_lat, 0.99)) * 1e3, 1
        ),
        "relay_rss_mb_per_call": round((peak_rss[0] - rss_idle) / max(1, n) / 2**20, 2),
        "direct_turns": len(direct_lat),
        "direct_errors": direct_errors,
        "relay_turns": len(relay_lat),
        "mean_relay_latency_s": round(statistics.fmean(relay_lat), 4) if relay_lat else None,
    }


def component_costs(frames: int = 3000) -> dict[str, float]:
    """CPU per 20 ms frame of the relay's own steps, in-process (µs; best of 3)."""
    from liveguard.audio.vad import SpeechDetector
    from liveguard.transports.twilio_protocol import TwilioMediaStream

    ulaw = mulaw.encode(load_clip("check_order", 8000).pcm)
    ulaw_frames = [ulaw[i : i + 160] for i in range(0, len(ulaw) - 160, 160)]
    reply = load_clip("order_shipped", 24000).pcm
    reply_frames = [reply[i : i + 960] for i in range(0, len(reply) - 960, 960)]
    proto = TwilioMediaStream()
    proto.receive(json.dumps({"event": "start", "start": {"streamSid": "MZb"}, "streamSid": "MZb"}))
    texts = [
        json.dumps({"event": "media", "streamSid": "MZb", "media": {"payload": p}})
        for p in (__import__("base64").b64encode(f).decode() for f in ulaw_frames)
    ]

    def best(fn) -> float:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            for i in range(frames):
                fn(i)
            times.append((time.perf_counter() - t) / frames * 1e6)
        return round(min(times), 1)

    vad = SpeechDetector(8000)
    down = Resampler(24000, 8000)
    return {
        "up_parse_decode_us": best(
            lambda i: mulaw.decode(proto.receive(texts[i % len(texts)])[0].payload)
        ),
        "up_vad_us": best(lambda i: vad.feed(mulaw.decode(ulaw_frames[i % len(ulaw_frames)]))),
        "up_resample_8k_16k_us": best(
            lambda i, r=Resampler(8000, 16000): r.process(
                mulaw.decode(ulaw_frames[i % len(ulaw_frames)])
            )
        ),
        "down_resample_encode_frame_us": best(
            lambda i: proto.send_audio(
                mulaw.encode(down.process(reply_frames[i % len(reply_frames)]))
            )
        ),
    }


async def main_async(args: argparse.Namespace) -> int:
    steps = [min(int(s), MAX_STEP_CALLS) for s in args.steps.split(",") if s.strip()]
    print(json.dumps({"relay_components_us_per_20ms_frame": component_costs()}), flush=True)
    env = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    with tempfile.TemporaryDirectory() as tmp:
        eproc, emu = start_emulator(env)
        rproc, relay = start_relay(env, emu, Path(tmp) / "logs", max(steps) + 10)
        best = 0
        try:
            print(f"# relay {relay['url']} -> emulator {emu['base_url']} (separate processes)")
            for n in steps:
                res = await run_step(n, args.turns, args.direct, relay, emu, rproc)
                print(json.dumps(res), flush=True)
                ok = (
                    res["errors"] == 0
                    and res["unanswered_turns"] == 0
                    and res["added_latency_p99_ms"] <= 5.0
                )
                if ok:
                    best = n
                else:
                    break
        finally:
            stop(rproc)
            stop(eproc)
    print(json.dumps({"max_calls_with_p99_added_latency_le_5ms": best}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="10,25,50,100,200,300")
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--direct", type=int, default=4, help="direct-path calls per step")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
