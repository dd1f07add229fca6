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
import signal
import sys
from typing import Any

import yaml

from liveguard import eventloop
from liveguard.config.settings import Settings
from liveguard.config.upstream import UpstreamError
from liveguard.relay.server import Relay

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


async def _serve(settings: Settings) -> int:
    relay = Relay(settings)
    try:
        await relay.start()
    except UpstreamError as exc:
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
        f"liveguard serve: listening on {relay.base_url} — talk page {relay.base_url}/ , "
        f"Twilio webhook POST {relay.base_url}/twilio/voice",
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
            }
        ),
        flush=True,
    )
    eventloop.freeze_startup_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    active = len(relay.ctx.calls) if relay.ctx else 0
    print(f"liveguard serve: shutting down ({active} active calls)", file=sys.stderr, flush=True)
    await relay.stop()
    print("liveguard serve: stopped", file=sys.stderr, flush=True)
    return 0


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
    return eventloop.run(_serve(settings))  # uvloop when installed: docs/relay.md
