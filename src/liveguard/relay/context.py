"""What every call handler shares: settings, the upstream client, telemetry, admission, shutdown.

Why one object: both transports open guarded sessions the same way (same client, same telemetry
sinks, same bounds), and shutdown has to reach every active call regardless of transport. The
handlers stay thin: they translate their wire format and use this for everything else.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from liveguard import events as ev
from liveguard.config.settings import Settings
from liveguard.relay.resume import HandleStore, MemoryBackend
from liveguard.relay.security import AdmissionLimiter
from liveguard.telemetry import MetricsRecorder, SessionLog, SessionRegistry, open_session_log

log = logging.getLogger("liveguard.relay")

SCENARIO_HEADER = "x-liveguard-scenario"


@dataclass
class CallTelemetry:
    """One call's sinks: its JSONL log, the metrics, the dashboard registry.

    The session feeds them its own events; the transport adds caller-side ones (bad input, DTMF,
    playout marks) through `emit`, on the same session clock.
    """

    call_id: str
    log: SessionLog
    sinks: list[Callable[[object], None]]
    clock: Callable[[], float] = field(default=lambda: 0.0)

    def emit(self, event: ev.Event) -> None:
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:  # telemetry must never take a call down
                log.exception("telemetry sink failed on %s", event.name)

    def caller_error(self, reason: str, *, fatal: bool = False) -> None:
        """Log bad caller input with a clear reason (JSONL, metrics, process log)."""
        log.info("call %s: caller error%s: %s", self.call_id, " (fatal)" if fatal else "", reason)
        self.emit(ev.CallerError(t=self.clock(), reason=reason, fatal=fatal))


class ActiveCall:
    """Handle the relay keeps for each call, so shutdown can tell it to end."""

    def __init__(self, call_id: str, transport: str) -> None:
        self.call_id = call_id
        self.transport = transport
        self.stop_reason: str | None = None
        self.goodbye = False  # say the fallback goodbye before ending (a drain ran out of time)
        self.stopping = asyncio.Event()
        self.done = asyncio.Event()

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stopping.set()


class RelayContext:
    """Shared by the routes: `client` is a google-genai Client (Google or the emulator)."""

    def __init__(
        self,
        settings: Settings,
        client: Any,
        *,
        emulated: bool = False,
        metrics: MetricsRecorder | None = None,
        registry: SessionRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.emulated = emulated
        self.metrics = metrics or MetricsRecorder()
        self.registry = registry or SessionRegistry()
        self.calls: dict[str, ActiveCall] = {}
        self.admission = AdmissionLimiter(
            settings.max_calls_per_source, settings.new_calls_per_source_per_min
        )
        self.shutting_down = False
        self.draining = False
        self.rejected = 0
        #: set when a drain was asked for (SIGTERM or POST /drain): `liveguard serve` waits on it
        self.drain_requested = asyncio.Event()
        self._drain_task: asyncio.Task[int] | None = None
        #: conversations' newest resumption handles (this process's, or Redis: relay/resume.py)
        self.handles = HandleStore(MemoryBackend())
        #: the other workers' / nodes' dashboard snapshots (telemetry/hostindex.py), if shared
        self.host_view: Any = None
        #: told when the relay goes from no calls to some (True) and back (False)
        self.on_busy: Callable[[bool], None] | None = None

    # ------------------------------------------------------------------ admission

    def refusal(self) -> str | None:
        """Why a new call would be refused right now, or None if it would be admitted."""
        if self.shutting_down:
            return "relay shutting down"
        if self.draining:
            return "relay draining"
        if len(self.calls) >= self.settings.max_calls:
            return "relay at capacity"
        return None

    def admit(self, transport: str) -> ActiveCall | None:
        """A new call's handle, or None when the relay is full or shutting down."""
        if self.refusal() is not None:
            self.rejected += 1
            return None
        call = ActiveCall(uuid.uuid4().hex[:12], transport)
        self.calls[call.call_id] = call
        if len(self.calls) == 1 and self.on_busy is not None:
            self.on_busy(True)
        return call

    def release(self, call: ActiveCall) -> None:
        if self.calls.pop(call.call_id, None) is not None and not self.calls and self.on_busy:
            self.on_busy(False)
        call.done.set()

    # ------------------------------------------------------------------ per-call telemetry

    def open_telemetry(self, call_id: str, transport: str) -> CallTelemetry:
        slog = open_session_log(self.settings.log_dir, call_id, settings=self.settings)
        self.registry.register(call_id, transport=transport, model=self.settings.model)
        sinks: list[Callable[[object], None]] = [
            slog,
            self.metrics.observe,
            self.registry.callback(call_id),
        ]
        return CallTelemetry(call_id, slog, sinks)

    def close_telemetry(self, tel: CallTelemetry, reason: str) -> None:
        tel.log.close()
        self.registry.unregister(tel.call_id, reason)

    def session_headers(self, parameters: dict[str, str]) -> dict[str, str]:
        """Per-call upstream headers: on the emulator a call may pick its scenario."""
        scenario = parameters.get("scenario")
        if self.emulated and scenario:
            return {SCENARIO_HEADER: scenario[:100]}
        return {}

    # ------------------------------------------------------------------ shutdown

    @property
    def ready(self) -> bool:
        """Should new calls be sent here (readiness)?"""
        return not (self.draining or self.shutting_down)

    def start_drain(self) -> asyncio.Task[int]:
        """The drain as a task, started once (SIGTERM and POST /drain share it)."""
        if self._drain_task is None:
            self.draining = True
            self.drain_requested.set()
            self._drain_task = asyncio.create_task(self.drain(), name="lg-drain")
        return self._drain_task

    async def drain(self, timeout_s: float | None = None) -> int:
        """Refuse new calls at once; let calls in progress end by themselves within `timeout_s`
        (default `drain_timeout_s`), then end the rest with the fallback goodbye. Returns how
        many calls had to be ended."""
        self.draining = True
        self.drain_requested.set()
        timeout = self.settings.drain_timeout_s if timeout_s is None else timeout_s
        calls = list(self.calls.values())
        log.info("drain: %d calls in progress, up to %.0f s", len(calls), timeout)
        if not calls:
            return 0
        waits = [asyncio.create_task(c.done.wait()) for c in calls]
        _, pending = await asyncio.wait(waits, timeout=timeout)
        for task in pending:
            task.cancel()
        cut = [c for c in calls if not c.done.is_set()]
        for call in cut:
            call.goodbye = True
            call.stop("drain timeout")
        if cut:
            log.info("drain: %d calls still up after %.0f s, ending them", len(cut), timeout)
            waits = [asyncio.create_task(c.done.wait()) for c in cut]
            _, pending = await asyncio.wait(waits, timeout=self.settings.shutdown_grace_s + 30.0)
            for task in pending:
                task.cancel()
        return len(cut)

    async def shutdown(self, reason: str = "relay shutting down") -> None:
        """Tell every active call to end, then wait (bounded) for them to finish and flush logs."""
        self.shutting_down = True
        calls = list(self.calls.values())
        for call in calls:
            call.stop(reason)
        if calls:
            waits = [asyncio.create_task(c.done.wait()) for c in calls]
            # grace for the calls, plus time for upstream close handshakes (websockets waits up
            # to 10 s for the server's close frame)
            _, pending = await asyncio.wait(waits, timeout=self.settings.shutdown_grace_s + 12.0)
            for task in pending:
                task.cancel()


RELAY_KEY: web.AppKey[RelayContext] = web.AppKey("liveguard_relay", RelayContext)
