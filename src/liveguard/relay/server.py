"""The relay server in-process: listen, pick the upstream (Google, another endpoint, or an embedded
emulator), probe loop lag, and stop cleanly."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from typing import Any

from aiohttp import web

from liveguard.audio import vad
from liveguard.config.settings import Settings
from liveguard.relay.app import build_app
from liveguard.relay.context import RelayContext
from liveguard.relay.resume import HandleStore
from liveguard.relay.security import bind_problems
from liveguard.telemetry import MetricsRecorder, SessionRegistry
from liveguard.telemetry.hostindex import FileIndex, IndexPublisher, worker_name
from liveguard.telemetry.lagprobe import LoopLagProbe

log = logging.getLogger("liveguard.relay")


BUSY_PROBE_S = 0.01  # loop-lag probe period while calls are up
IDLE_PROBE_S = 1.0  # and while there are none
METRICS_SYNC_S = 1.0  # multiprocess mode: audio-path metrics to the shared files this often
INDEX_ENV = "LIVEGUARD_HOST_INDEX_DIR"  # set by the supervisor (relay/supervisor.py)


class InsecureBindError(ValueError):
    """A non-loopback address without `auth_token` and `twilio_auth_token` (and no `insecure`)."""


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
        #: SO_REUSEPORT: several worker processes listen on one port (`relay.supervisor`)
        self.reuse_port = False
        self._publisher: IndexPublisher | None = None
        self._syncer: asyncio.Task | None = None
        self._redis: Any = None
        self._busy = asyncio.Event()  # calls are up

    async def start(self) -> None:
        """Listen; raises `InsecureBindError` on a public address without the tokens."""
        s = self.settings
        problems = bind_problems(s)
        if problems and not s.insecure:
            raise InsecureBindError(
                f"refusing to listen on {s.host}: {', '.join(problems)} "
                "(set the tokens, or pass --insecure to accept the risk)"
            )
        if problems:
            log.warning(
                "INSECURE: listening on %s with %s: anyone who reaches this port can talk to the "
                "model on your key and read live transcripts",
                s.host,
                " and ".join(problems),
            )
        client, emulated = self._client, self._emulated
        # load the shared VAD model now, off the loop, not inside the first call's audio path
        await asyncio.get_running_loop().run_in_executor(None, vad.get_session)
        if client is None:
            client, emulated = await self._make_client()
            s = self.settings  # the embedded emulator may have turned the demo tool on
        self.ctx = RelayContext(
            s, client, emulated=emulated, metrics=MetricsRecorder(), registry=SessionRegistry()
        )
        await self._share()
        self.app = build_app(self.ctx)
        self._runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=s.shutdown_grace_s
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, s.host, s.port, reuse_port=self.reuse_port or None)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        # the wait an arriving frame has before the loop looks at it (telemetry/lagprobe.py)
        # every 10 ms while calls are up; between calls once a second (idle CPU: bench_idle.py)
        probe = self._lag_probe = LoopLagProbe(self.ctx.metrics.loop_lag.observe, IDLE_PROBE_S)
        probe.start()

        def on_busy(busy: bool) -> None:
            probe.set_period(BUSY_PROBE_S if busy else IDLE_PROBE_S)
            if busy:
                self._busy.set()
            else:
                self._busy.clear()

        self.ctx.on_busy = on_busy

    async def _share(self) -> None:
        """What this process shares with the others on the host (`--workers`): the session
        index (the dashboard) and the multiprocess metrics' audio-path twins."""
        assert self.ctx is not None
        index_dir = os.environ.get(INDEX_ENV)
        redis_url = self.settings.redis_url
        if redis_url is not None and redis_url.get_secret_value():
            from liveguard.relay.redisstore import INDEX_REFRESH_S, RedisStore

            self._redis = store = RedisStore(redis_url.get_secret_value())
            try:
                await asyncio.wait_for(store.ping(), 3.0)
            except Exception as exc:  # calls work without it; the shared views wait for it
                log.warning("redis_url is set but Redis does not answer: %s", type(exc).__name__)
            self.ctx.registry.worker = worker_name()
            self._publisher = IndexPublisher(
                self.ctx.registry, store.index(worker_name()), refresh_s=INDEX_REFRESH_S
            )
            self.ctx.handles = HandleStore(store)
        elif index_dir:
            self.ctx.registry.worker = worker_name()
            self._publisher = IndexPublisher(self.ctx.registry, FileIndex(index_dir))
        if self._publisher is not None:
            self._publisher.start()
            self.ctx.host_view = self._publisher.others
        if self.ctx.metrics.shared_dir is not None:
            self._syncer = asyncio.create_task(self._sync_metrics(), name="lg-metrics-sync")

    async def _sync_metrics(self) -> None:
        """While calls are up, the audio-path metrics reach the shared files every
        METRICS_SYNC_S (and on every scrape of this worker); nothing runs while idle."""
        assert self.ctx is not None
        while True:
            await self._busy.wait()
            await asyncio.sleep(METRICS_SYNC_S)
            self.ctx.metrics.sync_shared()

    async def _unshare(self) -> None:
        if self._syncer is not None:
            self._syncer.cancel()
            self._syncer = None
        if self.ctx is not None:
            self.ctx.metrics.sync_shared()
        if self._publisher is not None:
            await self._publisher.close()
            self._publisher = None
        if self.ctx is not None:
            await self.ctx.handles.close()
        if self._redis is not None:
            await self._redis.close()
            self._redis = None

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

    async def drain(self) -> int:
        """Readiness 503 at once, new calls refused, calls in progress go on up to
        `drain_timeout_s`; returns how many had to be ended. `stop()` after it."""
        if self.ctx is None:
            return 0
        return await self.ctx.start_drain()

    async def stop(self) -> None:
        """Tell active calls, wait for them (bounded), flush logs, stop listening."""
        if self._lag_probe is not None:
            self._lag_probe.close()
            self._lag_probe = None
        if self.ctx is not None:
            await self.ctx.shutdown()
        await self._unshare()
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
