"""The relay server in-process: listen, pick the upstream (Google, another endpoint, or an embedded
emulator), probe loop lag, and stop cleanly."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiohttp import web

from liveguard.audio import vad
from liveguard.config.settings import Settings
from liveguard.relay.app import build_app
from liveguard.relay.context import RelayContext
from liveguard.telemetry import MetricsRecorder, SessionRegistry
from liveguard.telemetry.lagprobe import LoopLagProbe


def with_demo_tools(settings: Settings) -> Settings:
    """On the embedded emulator, tools not set at all means the demo's order lookup
    (`liveguard.tools.examples`), so a fresh machine shows a full tool round trip; `tools: []`
    keeps none."""
    if "tools" in settings.model_fields_set:
        return settings
    from liveguard.tools.examples import DEMO_TOOLS
    from liveguard.tools.spec import check_tool_entries

    return settings.model_copy(update={"tools": check_tool_entries(DEMO_TOOLS)})


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
            s = self.settings  # the embedded emulator may have turned the demo tool on
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
        """The upstream client as `choose_upstream` decides; UpstreamError stops the start.

        Never falls back to the emulator when Vertex AI was selected (config/upstream.py).
        """
        from liveguard.config.upstream import choose_upstream
        from liveguard.session.config import make_client

        s = self.settings
        loop = asyncio.get_running_loop()
        # ADC lookup reads files (and may probe the metadata server): off the loop
        self.upstream = up = await loop.run_in_executor(None, choose_upstream, s)
        if up.kind == "endpoint":
            ctx = ssl.create_default_context(
                cafile=str(s.upstream_ca_file) if s.upstream_ca_file else None
            )
            return make_client(s, base_url=s.upstream_base_url, ssl_context=ctx, upstream=up), False
        if up.kind in ("gemini", "vertex"):
            return make_client(s, upstream=up), False
        from liveguard.emulator import Emulator

        self.settings = s = with_demo_tools(s)
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
