"""The emulator's TLS WebSocket server: a thin asyncio shell around the sans-I/O model.

Per connection it applies the service's wire rules (path, key, setup first, strict parsing) and
reports every refusal the way the service does: a close frame with code and reason *after* the 101
upgrade, never an HTTP error. Then it feeds the model (`EmulatedSession`) client messages and clock
deadlines and executes its outputs in order. Pings are answered by websockets itself, except when
the scenario asks for slow or missing pongs: `_EmulatorConnection` intercepts PING frames in the
sans-I/O protocol to delay or drop the pong.

Every buffer is bounded: websockets' `max_size` caps a client frame (bigger → close 1009),
`max_queue` caps frames waiting to be read (then TCP backpressure), `write_limit` makes sends wait
for a slow reader. One bad connection only ever ends itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import itertools
import logging
import re
import secrets
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import DATA_OPCODES as _DATA_OPCODES
from websockets.frames import Frame

from liveguard.emulator import clients
from liveguard.emulator.pump import INTERNAL, Pump, dispatch
from liveguard.emulator.tls import TlsMaterial, client_ssl_context, make_tls
from liveguard.emulator.wire import (
    INVALID_ARGUMENT,
    SCENARIO_HEADER,
    ServerFrameError,
    WireError,
    encode_server_message,
    parse_client_frame,
    truncate_reason,
)
from liveguard.fastpath.ws_pings import intercept_pings
from liveguard.fastpath.ws_pump import can_pump
from liveguard.fastpath.ws_reader import WS_READER, cut_frames, parser_idle

if TYPE_CHECKING:
    from google import genai

__all__ = [
    "DEFAULT_API_KEY",
    "SCENARIO_HEADER",
    "Emulator",
    "Route",
    "SessionStats",
    "check_auth",
    "parse_path",
]

log = logging.getLogger("liveguard.emulator")

DEFAULT_API_KEY = "liveguard-emulator-key"
DEFAULT_MAX_FRAME_BYTES = 2 * 2**20  # largest client frame accepted (a JPEG video frame fits)
MAX_PENDING_PONGS = 8  # delayed pongs in flight per connection; more are dropped

BAD_KEY = "API key not valid. Please pass a valid API key."
NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
NOT_FOUND = "Method not found."


# --------------------------------------------------------------------------- routing and auth


@dataclass(frozen=True, slots=True)
class Route:
    """What the request path asked for."""

    api_version: str
    vertex: bool
    method: str  # "BidiGenerateContent" | "BidiGenerateContentConstrained"


_GEMINI_PATH = re.compile(
    r"^(?:/.*)?/ws/google\.ai\.generativelanguage\.(v\d+(?:alpha|beta)?\d*)"
    r"\.GenerativeService\.(BidiGenerateContent|BidiGenerateContentConstrained)$"
)
_VERTEX_PATH = re.compile(
    r"^(?:/.*)?/ws/google\.cloud\.aiplatform\.(v\d+(?:alpha|beta)?\d*)"
    r"\.LlmBidiService/(BidiGenerateContent)$"
)


def parse_path(target: str) -> tuple[Route | None, dict[str, list[str]]]:
    """Route of a request target (`//` collapsed, any base path, any v1* version) and its query."""
    raw_path, _, raw_query = target.partition("?")  # not urlsplit: "//ws/…" is not a netloc here
    path = re.sub(r"/{2,}", "/", raw_path.partition("#")[0])
    query = parse_qs(raw_query.partition("#")[0], keep_blank_values=True)
    if m := _GEMINI_PATH.match(path):
        return Route(api_version=m.group(1), vertex=False, method=m.group(2)), query
    if m := _VERTEX_PATH.match(path):
        return Route(api_version=m.group(1), vertex=True, method=m.group(2)), query
    return None, query


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def check_auth(
    route: Route, headers: Any, query: dict[str, list[str]], api_key: str
) -> tuple[int, str] | None:
    """None when the caller is authenticated, else the (code, reason) the service closes with.

    Accepted: `x-goog-api-key` header or `?key=` equal to the emulator key; on the Constrained
    method any `auth_tokens/…` ephemeral token (header, `Authorization: Token`, `?access_token=`);
    on the Vertex path any non-empty `Authorization: Bearer` token (OAuth tokens can't be checked
    offline).
    """
    authz = headers.get("authorization") or ""
    scheme, _, credential = authz.partition(" ")
    keys = [headers.get("x-goog-api-key"), *query.get("key", [])]
    if route.method == "BidiGenerateContentConstrained":
        keys += query.get("access_token", [])
        if scheme.lower() == "token":
            keys.append(credential)
    keys = [k for k in keys if k]
    if keys:
        for key in keys:
            if _same(key, api_key):
                return None
            if route.method == "BidiGenerateContentConstrained" and key.startswith("auth_tokens/"):
                return None
        return 1007, BAD_KEY
    if route.vertex and scheme.lower() == "bearer" and credential.strip():
        return None
    return 1008, truncate_reason(NO_KEY)


# --------------------------------------------------------------------------- per-session stats


@dataclass
class SessionStats:
    """What one connection did, for tests and benches; `model_stats` is the model's own counters."""

    session_id: str
    path: str
    scenario: str | None = None
    api_version: str | None = None
    vertex: bool = False
    model: str | None = None
    frames_received: int = 0
    bytes_received: int = 0
    frames_sent: int = 0
    frames_fast_read: int = 0  # data frames cut out of the stream by the fast reader
    setup_complete: bool = False
    pings_received: int = 0
    pongs_delayed: int = 0
    pongs_dropped: int = 0
    close_code: int | None = None
    close_reason: str | None = None
    close_side: str | None = None  # "server" | "client" | "abnormal"
    error: str | None = None  # an unexpected exception (a bug), never a client's fault
    model_stats: Any = None
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def audio_frames_received(self) -> int:
        return int(getattr(self.model_stats, "audio_frames_received", 0))

    @property
    def audio_bytes_received(self) -> int:
        return int(getattr(self.model_stats, "audio_bytes_received", 0))


# --------------------------------------------------------------------------- the connection


class _EmulatorConnection(ServerConnection):
    """A ServerConnection whose pongs follow the model's `pong_policy()`, with a fast frame reader.

    Both reach into websockets' protocol object through `liveguard.fastpath`, which checks its
    shape once and otherwise leaves websockets' own behaviour (immediate pongs, its parser):
    `ws_pings` hands us each PING so the model can delay or drop the pong; `ws_reader` cuts whole
    data frames out of the byte stream once the pump runs, handing their payload straight to the
    pump (what websockets' parser would deliver through `process_event`), and gives any other
    frame, with every byte after it, back to websockets' parser. The `process_event` override,
    `start_pump` and `paused` are the pump's (`ws_pump`): when websockets lacks them, `Emulator`
    serves the session with a plain `recv()` loop instead and `pump` stays None.
    """

    def __init__(self, protocol: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(protocol, *args, **kwargs)
        self.pong_policy: Callable[[], float | None] | None = None
        self.stats: SessionStats | None = None
        #: after setup, data frames go straight to the pump instead of recv()'s queue
        self.pump: Pump | None = None
        #: the server's `fast_reader` option: may data frames bypass websockets' parser
        self.fast_reader = True
        self._fast = False
        self._fast_limit = 0
        self._rbuf = b""  # the start of a frame the fast reader has not got whole yet
        self._pending_pongs = 0
        intercept_pings(protocol, self._on_ping)

    def _on_ping(self, frame: Frame) -> bool:
        """True: answer now; False: the pong is late (`_late_pong`) or never comes."""
        stats = self.stats
        if stats is not None:
            stats.pings_received += 1
        delay = self._pong_delay()
        if delay is not None and delay <= 0:
            return True  # the normal, immediate pong
        if delay is None or self._pending_pongs >= MAX_PENDING_PONGS:
            if stats is not None:
                stats.pongs_dropped += 1
        else:
            self._pending_pongs += 1
            if stats is not None:
                stats.pongs_delayed += 1
            self.loop.call_later(delay, self._late_pong, bytes(frame.data))
        return False

    def process_event(self, event: Any) -> None:
        pump = self.pump
        if pump is not None and event.opcode in _DATA_OPCODES:
            pump.frame(event)
            return
        super().process_event(event)

    # ---- the fast reader (liveguard.fastpath.ws_reader)

    def _parser_idle(self) -> bool:
        """True when the fast reader may cut frames: the pump runs, the option is on and
        websockets' parser waits for the next frame with nothing buffered."""
        if self.pump is None or not self.fast_reader or not WS_READER.usable():
            return False
        limit = parser_idle(self.protocol)
        if limit is None:
            return False
        self._fast_limit = limit
        return True

    def _slow(self, data: bytes) -> None:
        """Hand `data` (from a frame boundary on) to websockets; resume fast when it is idle."""
        self._fast = False
        self._rbuf = b""
        super().data_received(data)
        self._fast = self._parser_idle()

    def _fast_frame(self, text: bool, payload: bytes) -> None:
        self.stats.frames_fast_read += 1  # type: ignore[union-attr]
        self.pump.message(text, payload)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        if not self._fast:
            self._slow(data)
            return
        buf = self._rbuf + data if self._rbuf else data
        pos, slow = cut_frames(buf, self.protocol, self._fast_limit, self._fast_frame)
        if slow:
            self._slow(buf[pos:] if pos else buf)  # a frame websockets must see, and all after it
        else:
            self._rbuf = buf[pos:] if pos < len(buf) else b""

    def eof_received(self) -> bool | None:
        self._unbuffer()
        return super().eof_received()

    def _unbuffer(self) -> None:
        """The stream ends: give websockets the partial frame it would have buffered itself."""
        self._fast = False
        data, self._rbuf = self._rbuf, b""
        if data and not self.protocol.reader.eof:
            self.protocol.receive_data(data)  # a partial frame: no event, nothing to send

    def connection_lost(self, exc: Exception | None) -> None:
        self._unbuffer()
        super().connection_lost(exc)
        if self.pump is not None:
            self.pump.finish("lost")

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.pump is not None:
            self.pump.resume_writing()

    def start_pump(self, pump: Pump) -> None:
        """Hand data frames to `pump` from now on, starting with any already queued for recv()."""
        queue = self.recv_messages.frames.queue  # websockets' Assembler buffer (max_queue frames)
        backlog = list(queue)
        queue.clear()
        self.pump = pump
        self.recv_messages.maybe_resume()
        pump.start(backlog)
        self._fast = self._parser_idle()

    def _pong_delay(self) -> float | None:
        policy = self.pong_policy
        if policy is None:
            return 0.0
        try:
            return policy()
        except Exception:  # a model bug must not break keepalive handling
            log.exception("pong_policy failed; answering the ping")
            return 0.0

    def _late_pong(self, data: bytes) -> None:
        self._pending_pongs -= 1
        with contextlib.suppress(Exception):
            self.protocol.send_pong(data)
            self.send_data()


# --------------------------------------------------------------------------- the emulator


class Emulator:
    """An in-process Gemini Live emulator over TLS on `host:port` (0 = any free port).

    A little over ~350 lines on purpose: serving one connection (`_serve`, the pump or its
    reference `_recv_loop`, `_execute`, `_close`) is one sequence over the server's state (its
    store, scenarios, stats and key), and reads best in one place.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: str | Path = "healthy",
        api_key: str = DEFAULT_API_KEY,
        state_dir: Path | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        setup_timeout_s: float = 60.0,
        max_sessions_kept: int = 10_000,
        fast_reader: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.scenario = scenario
        self.api_key = api_key
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.max_frame_bytes = max_frame_bytes
        self.setup_timeout_s = setup_timeout_s
        self.max_sessions_kept = max_sessions_kept
        #: False: every frame goes through websockets' parser (tests compare the two readers)
        self.fast_reader = fast_reader
        self.sessions: list[SessionStats] = []
        #: (loop time, seconds late) of a 50 ms heartbeat: how far the event loop lags behind its
        #: schedule under load, i.e. how late frames and model deadlines are served (bounded).
        self.loop_lag: deque[tuple[float, float]] = deque(maxlen=200_000)
        self._lag_task: asyncio.Task | None = None
        self._server: Server | None = None
        self._tls: TlsMaterial | None = None
        self._scenarios: dict[str, Any] = {}
        self._default_scenario: Any = None
        self._store: Any = None
        self._ids = itertools.count(1)
        self._builtin: dict[str, str] = {}

    # ---- lifecycle

    async def start(self) -> None:
        """Load the default scenario (ScenarioError if bad), make TLS material, start serving."""
        from liveguard.emulator.resumption import ResumptionStore
        from liveguard.emulator.scenario import builtin_scenarios, load_scenario
        from liveguard.emulator.speech import warm_up

        self._builtin = dict(builtin_scenarios())
        self._default_scenario = load_scenario(self.scenario)
        warm_up()
        self._store = ResumptionStore()
        self._tls = make_tls(self.state_dir, extra_hosts=(self.host,))
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            ssl=self._tls.server_context,
            create_connection=_EmulatorConnection,
            max_size=self.max_frame_bytes,
            max_queue=16,
            write_limit=2**16,
            compression=None,
            ping_interval=None,  # the client pings; the service was not seen pinging
            close_timeout=2,
            server_header=None,
        )
        self._lag_task = asyncio.create_task(self._watch_loop_lag())
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info(
            "emulator listening on %s (scenario %s)", self.base_url, self._default_scenario.name
        )

    async def _watch_loop_lag(self, period: float = 0.05) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + period
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            now = loop.time()
            self.loop_lag.append((now, now - due))
            due = max(due + period, now)

    async def stop(self) -> None:
        """Close every connection (1001), stop listening and remove temporary TLS files."""
        if self._lag_task is not None:
            self._lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_task
            self._lag_task = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._tls is not None:
            self._tls.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- what clients need

    @property
    def base_url(self) -> str:
        host = self.host
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            if ip.is_unspecified:
                host = "127.0.0.1" if ip.version == 4 else "::1"
            if ":" in host:
                host = f"[{host}]"
        return f"https://{host}:{self.port}"

    @property
    def ca_file(self) -> str:
        if self._tls is None:
            raise RuntimeError("emulator not started")
        return str(self._tls.ca_file)

    def ssl_context(self) -> ssl.SSLContext:
        """A client-side SSL context that trusts this emulator."""
        return client_ssl_context(self.ca_file)

    def client(
        self, scenario: str | None = None, *, vertexai: bool = False, **http_options: Any
    ) -> genai.Client:
        """A google-genai Client wired to this emulator (ssl context, key, optional scenario)."""
        return clients.gemini_client(
            self.base_url,
            self.api_key,
            self.ssl_context(),
            scenario,
            vertexai=vertexai,
            **http_options,
        )

    def vertex_client(
        self,
        scenario: str | None = None,
        *,
        project: str = "liveguard-emulator",
        location: str = "us-central1",
        token: str = "liveguard-emulator-token",
    ) -> genai.Client:
        """A Vertex AI client (project + location + OAuth credentials) wired to this emulator.

        The SDK sends `Authorization: Bearer <token>` and the full
        `projects/P/locations/L/publishers/google/models/X` name, as it does against Vertex. The
        credentials are a fixed, already valid token, so nothing is fetched from Google.
        """
        return clients.vertex_client(
            self.base_url,
            self.ssl_context(),
            scenario,
            project=project,
            location=location,
            token=token,
        )

    async def wait_closed_sessions(self, count: int | None = None) -> list[SessionStats]:
        """Wait until every (or the first `count`) recorded session has ended; return them."""
        chosen = self.sessions if count is None else self.sessions[:count]
        for stats in list(chosen):
            await stats.done.wait()
        return list(chosen)

    # ---- one connection

    def _scenario_for(self, conn: ServerConnection) -> tuple[Any, str | None]:
        """(scenario, error) for this connection: the header's built-in name or the default."""
        wanted = conn.request.headers.get(SCENARIO_HEADER) if conn.request else None
        if not wanted:
            return self._default_scenario, None
        wanted = wanted.strip()
        if wanted == self._default_scenario.name:
            return self._default_scenario, None
        if wanted not in self._builtin:
            return None, f"liveguard: unknown scenario {wanted!r} in {SCENARIO_HEADER}"
        if wanted not in self._scenarios:
            from liveguard.emulator.scenario import load_scenario

            self._scenarios[wanted] = load_scenario(wanted)
        return self._scenarios[wanted], None

    def _record(self, stats: SessionStats) -> None:
        self.sessions.append(stats)
        excess = len(self.sessions) - self.max_sessions_kept
        if excess > 0:
            del self.sessions[:excess]

    async def _handle(self, conn: ServerConnection) -> None:
        assert isinstance(conn, _EmulatorConnection)
        target = conn.request.path if conn.request else ""
        stats = SessionStats(
            session_id=f"emu-{next(self._ids)}-{secrets.token_hex(3)}",
            path=target.partition("?")[0],
        )
        conn.stats = stats
        conn.fast_reader = self.fast_reader
        self._record(stats)
        try:
            await self._serve(conn, stats, target)
        except ConnectionClosed as exc:
            self._note_closed(stats, exc)
        except Exception as exc:  # a bug: end this connection only, keep serving the others
            log.exception("session %s failed", stats.session_id)
            stats.error = f"{type(exc).__name__}: {exc}"
            await self._close(conn, stats, 1011, INTERNAL)
        finally:
            if stats.close_code is None:
                stats.close_code = conn.close_code
                stats.close_reason = conn.close_reason
                stats.close_side = stats.close_side or "abnormal"
            stats.done.set()
            log.info(
                "session %s closed %s %r by %s (%d frames in)",
                stats.session_id,
                stats.close_code,
                stats.close_reason,
                stats.close_side,
                stats.frames_received,
            )

    async def _close(self, conn: ServerConnection, stats: SessionStats, code: int, reason: str):
        reason = truncate_reason(reason)
        if stats.close_side is None:
            stats.close_code, stats.close_reason, stats.close_side = code, reason, "server"
        with contextlib.suppress(Exception):
            await conn.close(code, reason)

    @staticmethod
    def _note_closed(stats: SessionStats, exc: ConnectionClosed) -> None:
        if stats.close_side is not None:
            return
        if exc.rcvd is not None and (exc.sent is None or exc.rcvd_then_sent):
            stats.close_code, stats.close_reason, stats.close_side = (
                exc.rcvd.code,
                exc.rcvd.reason,
                "client",
            )
        elif exc.sent is not None:  # websockets itself failed the connection (1009, 1002, …)
            stats.close_code, stats.close_reason, stats.close_side = (
                exc.sent.code,
                exc.sent.reason,
                "server",
            )
        else:
            stats.close_code, stats.close_reason, stats.close_side = 1006, "", "abnormal"

    async def _recv_first(self, conn: ServerConnection) -> str | bytes | None:
        try:
            async with asyncio.timeout(self.setup_timeout_s):
                return await conn.recv()
        except TimeoutError:
            return None

    async def _serve(self, conn: _EmulatorConnection, stats: SessionStats, target: str) -> None:
        from liveguard.emulator.model import EmulatedSession

        loop = asyncio.get_running_loop()
        route, query = parse_path(target)
        if route is None:
            await self._close(conn, stats, 1008, NOT_FOUND)
            return
        stats.api_version, stats.vertex = route.api_version, route.vertex
        scenario, scenario_error = self._scenario_for(conn)
        if scenario is not None:
            stats.scenario = scenario.name

        raw = await self._recv_first(conn)
        if raw is None:
            await self._close(conn, stats, 1007, INVALID_ARGUMENT)
            return
        stats.frames_received += 1
        stats.bytes_received += len(raw)
        if denied := check_auth(route, conn.request.headers, query, self.api_key):
            await self._close(conn, stats, *denied)
            return
        if scenario_error is not None:
            await self._close(conn, stats, 1007, scenario_error)
            return
        try:
            msg = parse_client_frame(raw)
        except WireError as exc:
            await self._close(conn, stats, exc.code, exc.reason)
            return
        if msg.kind != "setup":
            await self._close(conn, stats, 1007, INVALID_ARGUMENT)
            return
        stats.model = msg.body.get("model")

        model = EmulatedSession(
            scenario, store=self._store, session_id=stats.session_id, now=loop.time()
        )
        stats.model_stats = model.stats
        conn.pong_policy = model.pong_policy
        pump = Pump(conn, stats, model)
        try:
            if await self._execute(conn, stats, model.handle_setup(msg.body, loop.time())):
                return
            if not can_pump(conn):  # websockets changed shape: the reference path
                await self._recv_loop(conn, stats, model)
                return
            conn.start_pump(pump)  # no await since recv(): no frame can slip past the pump
            kind, a, b = await pump.done
            if kind == "close":
                await self._close(conn, stats, a, b)
            elif kind == "error":
                raise a
            else:  # the connection went away
                await conn.wait_closed()
                raise conn.close_exc
        finally:
            pump.finish("lost")
            model.connection_closed(loop.time())

    async def _recv_loop(self, conn: ServerConnection, stats: SessionStats, model: Any) -> None:
        """The pump's reference path (`liveguard.fastpath.ws_pump` off): `recv()` each frame
        under the model's next deadline, poll the model when it passes, dispatch each frame as
        the pump does; a close output, a bad frame or a second setup closes the connection."""
        loop = asyncio.get_running_loop()
        while True:
            deadline = model.next_deadline()
            try:
                async with asyncio.timeout_at(deadline):
                    raw = await conn.recv()
            except TimeoutError:
                if await self._execute(conn, stats, model.poll(max(loop.time(), deadline))):
                    return
                continue
            stats.frames_received += 1
            stats.bytes_received += len(raw)
            if await self._execute(conn, stats, dispatch(model, raw, loop.time())):
                return

    async def _execute(self, conn: ServerConnection, stats: SessionStats, outputs: list) -> bool:
        """Run model outputs in order; True when the connection was closed."""
        for out in outputs:
            payload = getattr(out, "payload", None)
            if payload is not None:
                try:
                    data = encode_server_message(payload)
                except ServerFrameError as exc:
                    log.error("session %s: model produced a bad frame: %s", stats.session_id, exc)
                    stats.error = f"ServerFrameError: {exc}"
                    await self._close(conn, stats, 1011, INTERNAL)
                    return True
                await conn.send(data)
                stats.frames_sent += 1
                if "setupComplete" in payload:
                    stats.setup_complete = True
            else:  # CloseConnection
                await self._close(conn, stats, out.code, out.reason)
                return True
        return False
