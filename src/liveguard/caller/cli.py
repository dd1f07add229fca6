"""`liveguard call`: place one simulated phone call (Twilio by default, or `--carrier telnyx`,
`plivo`, `vonage`, `exotel`) and print a JSON line per caller turn."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

from liveguard.audio import mulaw, wav
from liveguard.caller.script import BargeIn, Say, ScriptError, builtin_scripts, load_script
from liveguard.caller.simulated import RATE, clip_ulaw, run_call
from liveguard.caller.wire import CARRIERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="ws(s)://HOST:PORT/twilio/stream (or the carrier's path)")
    parser.add_argument(
        "--carrier",
        default="twilio",
        choices=CARRIERS,
        help="whose media-stream protocol to speak (default twilio)",
    )
    parser.add_argument(
        "--rate",
        type=int,
        help="the stream's sample rate where the carrier offers one (e.g. vonage 16000 or 8000)",
    )
    parser.add_argument(
        "--codec", default="", help="telnyx: PCMU, PCMA or L16; plivo: mulaw or l16"
    )
    parser.add_argument(
        "--script", default="three-turns", help="a shipped script name or a YAML file"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a customParameter for the start message (repeatable)",
    )
    parser.add_argument("--record", type=Path, help="write what the caller heard to this WAV file")
    parser.add_argument("--max-duration", type=float, default=600.0, help="seconds (bound)")
    parser.add_argument(
        "--twilio-auth-token-env",
        metavar="VAR",
        help="sign the stream request with the Twilio auth token in this environment variable",
    )
    parser.add_argument(
        "--list-scripts", action="store_true", help="list the shipped scripts and exit"
    )


def _print_line(line: dict[str, Any]) -> None:
    print(json.dumps(line, separators=(",", ":")), flush=True)


def write_wav(path: Path, ulaw: bytes) -> None:
    """Save μ-law 8 kHz audio as a PCM16 WAV (what the caller heard)."""
    wav.write_wav(path, mulaw.decode(ulaw), RATE)


def run(args: argparse.Namespace) -> int:
    if args.list_scripts:
        for name in builtin_scripts():
            print(name)
        return 0
    if not args.url:
        path = "/twilio/stream" if args.carrier == "twilio" else f"/{args.carrier}/stream"
        print(f"liveguard call: --url is required (ws://HOST:PORT{path})", file=sys.stderr)
        return 2
    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"liveguard call: --param needs KEY=VALUE, got {item!r}", file=sys.stderr)
            return 2
        params[key] = value
    try:
        script = load_script(args.script)
        for step in script.steps:  # fail on a bad clip before dialling
            if isinstance(step, Say | BargeIn):
                clip_ulaw(step.clip)
        token = os.environ.get(args.twilio_auth_token_env) if args.twilio_auth_token_env else None
        result = asyncio.run(
            run_call(
                args.url,
                script,
                on_line=_print_line,
                parameters=params,
                max_duration_s=args.max_duration,
                twilio_auth_token=token,
                carrier=args.carrier,
                rate=args.rate,
                codec=args.codec,
            )
        )
    except (ScriptError, ValueError) as exc:
        print(f"liveguard call: {exc}", file=sys.stderr)
        return 2
    except (aiohttp.ClientError, OSError) as exc:
        print(f"liveguard call: cannot connect to {args.url}: {exc}", file=sys.stderr)
        return 1
    if args.record:
        write_wav(args.record, result.heard)
    return 0
