"""`liveguard serve`: the aiohttp relay app — health, metrics, Twilio, browser, the page, dashboard.

Holds no logic of its own: routes come from the transports, telemetry from liveguard.telemetry,
decisions from the guard inside each GuardedSession. With no API key configured it embeds the
emulator in-process (and says so on stderr), so `liveguard serve` works on a fresh machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import importlib
import json
import logging
import signal
import ssl
import sys
from typing import Any

import yaml
from aiohttp import web

from liveguard import aio
from liveguard.audio import vad
from liveguard.settings import Settings
from liveguard.telemetry import MetricsRecorder, SessionRegistry
from liveguard.telemetry.lagprobe import LoopLagProbe
from liveguard.transports import browser, twilio
from liveguard.transports.context import RELAY_KEY, RelayContext

log = logging.getLogger("liveguard.serve")


# --------------------------------------------------------------------------- the app


async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[RELAY_KEY]
    body = {
        "status": "shutting_down" if ctx.shutting_down else "ok",
        "calls": len(ctx.calls),
        "max_calls": ctx.settings.max_calls,
        "emulator": ctx.emulated,
        "model": ctx.settings.model,
    }
    return web.json_response(body, status=503 if ctx.shutting_down else 200)


async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[RELAY_KEY].metrics.exposition()
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = content_type
    return resp


def _mount_dashboard(app: web.Application, ctx: RelayContext) -> bool:
    """Mount the report engineer's `/sessions` dashboard when that module exists."""
    try:
        dashboard = importlib.import_module("liveguard.report.dashboard")
    except ImportError:
        return False
    add = getattr(dashboard, "add_dashboard_routes", None)
    if add is None:
        return False
    add(app, ctx.registry)
    return True


# routes that never need the relay's auth token: health checks, Twilio (signed by Twilio), and the
# page's static files (the page passes its ?token= on to the browser stream, which checks it)
_OPEN_PATHS = ("/healthz", "/twilio/", "/static/")


def _auth_middleware(token: str) -> Any:
    """With `auth_token` set, every other route needs `Authorization: Bearer TOKEN` or ?token=."""
    expected = token.encode()

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path != "/" and not request.path.startswith(_OPEN_PATHS):
            given = request.headers.get("Authorization", "")
            given = given[7:] if given.startswith("Bearer ") else request.query.get("token", "")
            if not hmac.compare_digest(given.encode(), expected):
                raise web.HTTPUnauthorized(text="missing or wrong token\n")
        return await handler(request)

    return check


def build_app(ctx: RelayContext) -> web.Application:
    """The relay's aiohttp application around a prepared context."""
    middlewares = []
    if ctx.settings.auth_token is not None and ctx.settings.auth_token.get_secret_value():
        middlewares.append(_auth_middleware(ctx.settings.auth_token.get_secret_value()))
    app = web.Application(client_max_size=64 * 1024, middlewares=middlewares)
    app[RELAY_KEY] = ctx
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    twilio.add_routes(app)
    browser.add_routes(app)
    _mount_dashboard(app, ctx)

    async def on_shutdown(app: web.Application) -> None:
        await ctx.shutdown()

    app.on_shutdown.append(on_shutdown)
    return app


# --------------------------------------------------------------------------- the relay


class Relay:
    """The relay server in-process: `async with Relay(settings) as relay: relay.base_url ...`.

    Upstream: `client` if given; else Google with `settings.api_key`; else, with
    `settings.upstream_base_url`, that endpoint (e.g. `liveguard emulate` in another process);
    else an embedded emulator running `settings.scenario`.
    """

    def __init__(self, settings: Settings, *, client: Any = None, emulated: bool = False) -> None:
        self.settings = settings
        self._client = client
        self._emulated = emulated
        self.emulator: Any = None
        self.ctx: RelayContext | None = None
        self._runner: web.AppRunner | None = None
        self._lag_probe: LoopLagProbe | None = None
        self.port = settings.port

    async def start(self) -> None:
        s = self.settings
        client, emulated = self._client, self._emulated
        # load the shared VAD model now, off the loop, not inside the first call's audio path
        await asyncio.get_running_loop().run_in_executor(None, vad.get_session)
        if client is None:
            client, emulated = await self._make_client()
        self.ctx = RelayContext(
            s, client, emulated=emulated, metrics=MetricsRecorder(), registry=SessionRegistry()
        )
        self.app = build_app(self.ctx)
        self._runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=s.shutdown_grace_s
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, s.host, s.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        # the wait an arriving frame has before the loop looks at it (telemetry/lagprobe.py)
        self._lag_probe = LoopLagProbe(self.ctx.metrics.loop_lag.observe)
        self._lag_probe.start()

    async def _make_client(self) -> tuple[Any, bool]:
        from liveguard.session.config import make_client

        s = self.settings
        if s.upstream_base_url:
            ctx = ssl.create_default_context(
                cafile=str(s.upstream_ca_file) if s.upstream_ca_file else None
            )
            return make_client(s, base_url=s.upstream_base_url, ssl_context=ctx), False
        if not s.uses_emulator():
            return make_client(s), False
        from liveguard.emulator import Emulator

        self.emulator = Emulator(host="127.0.0.1", port=0, scenario=s.scenario)
        await self.emulator.start()
        return self.emulator.client(), True

    async def stop(self) -> None:
        """Tell active calls, wait for them (bounded), flush logs, stop listening."""
        if self._lag_probe is not None:
            self._lag_probe.close()
            self._lag_probe = None
        if self.ctx is not None:
            await self.ctx.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.emulator is not None:
            await self.emulator.stop()
            self.emulator = None

    async def __aenter__(self) -> Relay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def host(self) -> str:
        h = self.settings.host
        return "127.0.0.1" if h in ("0.0.0.0", "") else h

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def twilio_url(self) -> str:
        return f"ws://{self.host}:{self.port}/twilio/stream"

    @property
    def browser_url(self) -> str:
        return f"ws://{self.host}:{self.port}/browser/stream"


# --------------------------------------------------------------------------- command line


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
    except OSError as exc:
        print(
            f"liveguard serve: cannot listen on {settings.host}:{settings.port}: {exc}",
            file=sys.stderr,
        )
        await relay.stop()
        return 1
    if relay.emulator is not None:
        print(
            "liveguard serve: no GEMINI_API_KEY / GOOGLE_API_KEY set — using the embedded Gemini "
            f"Live emulator (scenario {settings.scenario!r}) at {relay.emulator.base_url}",
            file=sys.stderr,
        )
    else:
        where = settings.upstream_base_url or "Google's Gemini Live API"
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
    aio.freeze_startup_heap()
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
    return aio.run(_serve(settings))  # uvloop when installed: docs/relay.md
