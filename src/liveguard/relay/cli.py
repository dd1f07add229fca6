"""`liveguard serve`: flags to settings, start the relay, print where it listens, stop on a signal.

With no API key configured the relay embeds the emulator in-process (and says so on stderr), so
`liveguard serve` works on a fresh machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from typing import Any

import yaml

from liveguard import eventloop
from liveguard.config.settings import Settings
from liveguard.config.upstream import UpstreamError
from liveguard.relay.security import bind_problems
from liveguard.relay.server import InsecureBindError, Relay
from liveguard.relay.supervisor import DRAIN_SIGNAL, Supervisor, usable_cores

log = logging.getLogger("liveguard.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML settings file (docs/settings.md)")
    parser.add_argument("--host", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (0 = any free port; default 8080)")
    parser.add_argument("--public-url", help="externally reachable https:// URL (for TwiML)")
    parser.add_argument("--model", help="Live API model")
    parser.add_argument("--voice", help="prebuilt voice name")
    parser.add_argument("--system-instruction", help="system instruction text")
    parser.add_argument("--greeting", help="prompt that makes the model speak first ('' = none)")
    parser.add_argument("--scenario", help="embedded emulator scenario (no API key set)")
    parser.add_argument("--vad-mode", choices=("server", "client"), help="who detects speech")
    parser.add_argument("--log-dir", help="directory of per-session JSONL logs")
    parser.add_argument("--max-calls", type=int, help="concurrent calls accepted")
    parser.add_argument(
        "--redact-transcripts", action="store_true", default=None, help="redact transcripts"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any setting, dotted for nested ones (guard.answer_deadline_s=2.5); repeatable",
    )
    parser.add_argument("--log-level", default="INFO", help="process log level (default INFO)")
    parser.add_argument(
        "--workers",
        type=int,
        help="worker processes on one port (default: the usable cores; 1 = no supervisor)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="listen on a public address without auth_token / twilio_auth_token (logs a warning)",
    )
    parser.add_argument("--worker-of", type=int, help=argparse.SUPPRESS)  # the supervisor's pid


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Flags as Settings overrides (None = not given); `--set a.b=v` values are YAML-parsed."""
    out: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "public_url": args.public_url,
        "model": args.model,
        "voice": args.voice,
        "system_instruction": args.system_instruction,
        "greeting": args.greeting,
        "scenario": args.scenario,
        "log_dir": args.log_dir,
        "max_calls": args.max_calls,
        "redact_transcripts": args.redact_transcripts,
        "workers": args.workers,
        "insecure": args.insecure,
    }
    out = {k: v for k, v in out.items() if v is not None}
    if args.vad_mode:
        out["vad"] = {"mode": args.vad_mode}
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set needs KEY=VALUE, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {key}: {part} is not a group of settings")
        node[parts[-1]] = value
    return out


_VALUE_FLAGS = (
    "config",
    "host",
    "public_url",
    "model",
    "voice",
    "system_instruction",
    "greeting",
    "scenario",
    "vad_mode",
    "log_dir",
    "max_calls",
    "log_level",
)


def worker_argv(args: argparse.Namespace) -> list[str]:
    """`liveguard serve` flags for a worker: the same as given, less --workers and --port (the
    supervisor adds its own)."""
    out: list[str] = []
    for dest in _VALUE_FLAGS:
        value = getattr(args, dest, None)
        if value is not None:
            out += ["--" + dest.replace("_", "-"), str(value)]
    for flag in ("redact_transcripts", "insecure"):
        if getattr(args, flag, None):
            out.append("--" + flag.replace("_", "-"))
    for item in args.set:
        out += ["--set", item]
    return out


async def _serve(settings: Settings, supervisor_pid: int | None = None) -> int:
    """One relay process: start, print where it listens, drain on the first signal (or
    POST /drain), stop at the end of the drain or on a second signal."""
    relay = Relay(settings)
    relay.reuse_port = supervisor_pid is not None
    try:
        await relay.start()
    except (InsecureBindError, UpstreamError) as exc:
        print(f"liveguard serve: {exc}", file=sys.stderr)
        await relay.stop()
        return 2
    except OSError as exc:
        print(
            f"liveguard serve: cannot listen on {settings.host}:{settings.port}: {exc}",
            file=sys.stderr,
        )
        await relay.stop()
        return 1
    assert relay.ctx is not None
    _announce(relay, settings)
    eventloop.freeze_startup_heap()
    ctx = relay.ctx
    hard = asyncio.Event()
    signalled = []

    def on_signal() -> None:
        signalled.append(True)
        if ctx.drain_requested.is_set() and len(signalled) > 1:
            hard.set()  # a second signal: stop now
        else:
            ctx.start_drain()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
    await ctx.drain_requested.wait()
    if supervisor_pid is not None and not signalled:
        # POST /drain reached this worker: the supervisor drains every worker (it sends the
        # SIGTERM this one already acts on)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(supervisor_pid, DRAIN_SIGNAL)
    print(
        f"liveguard serve: draining, then shutting down ({len(ctx.calls)} active calls; up to "
        f"{settings.drain_timeout_s:.0f} s; a second signal stops at once)",
        file=sys.stderr,
        flush=True,
    )
    hard_wait = asyncio.create_task(hard.wait())
    await asyncio.wait({ctx.start_drain(), hard_wait}, return_when=asyncio.FIRST_COMPLETED)
    hard_wait.cancel()
    await relay.stop()
    logging.shutdown()  # every log line out before the process ends
    print("liveguard serve: stopped", file=sys.stderr, flush=True)
    return 0


def _announce(relay: Relay, settings: Settings) -> None:
    """The human lines on stderr and the JSON ready line on stdout."""
    if relay.emulator is not None:
        print(
            "liveguard serve: no GEMINI_API_KEY / GOOGLE_API_KEY set and Vertex AI not selected "
            "(GOOGLE_GENAI_USE_VERTEXAI) — using the embedded Gemini Live emulator (scenario "
            f"{settings.scenario!r}) at {relay.emulator.base_url}",
            file=sys.stderr,
        )
    else:
        upstream = getattr(relay, "upstream", None)  # set by Relay._make_client
        where = upstream.describe() if upstream else "the given client"
        print(f"liveguard serve: talking to {where} (model {settings.model})", file=sys.stderr)
    print(
        f"liveguard serve: listening on {relay.base_url} (pid {os.getpid()}) — talk page "
        f"{relay.base_url}/ , Twilio webhook POST {relay.base_url}/twilio/voice",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "url": relay.base_url,
                "twilio_stream": relay.twilio_url,
                "browser_stream": relay.browser_url,
                "emulator": relay.emulator is not None,
                "scenario": settings.scenario if relay.emulator is not None else None,
                "pid": os.getpid(),
            }
        ),
        flush=True,
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = Settings.load(args.config, **_overrides(args))
    except ValueError as exc:
        print(f"liveguard serve: {exc}", file=sys.stderr)
        return 2
    if args.worker_of is not None:
        return eventloop.run(_serve(settings, args.worker_of))
    workers = settings.workers or usable_cores()
    if workers > 1:
        problems = bind_problems(settings)
        if problems and not settings.insecure:  # say it once, not once per worker
            print(
                f"liveguard serve: refusing to listen on {settings.host}: "
                f"{', '.join(problems)} (set the tokens, or pass --insecure)",
                file=sys.stderr,
            )
            return 2
        return Supervisor(settings, workers, worker_argv(args)).run()
    return eventloop.run(_serve(settings))  # uvloop when installed: docs/relay.md
