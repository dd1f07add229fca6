"""`liveguard serve --workers N`: N relay processes on one port, kept alive and stopped together.

Why processes: one Python event loop uses one core. Each worker is an ordinary `liveguard serve`
listening with SO_REUSEPORT on the same port, so the kernel spreads new connections across them
and each call lives and dies with its own worker. The supervisor:

- holds the port (a bound, never-listening SO_REUSEPORT socket: `--port 0` picks one for all);
- makes a temporary directory for prometheus-client's multiprocess files
  (`PROMETHEUS_MULTIPROC_DIR`: `/metrics` on any worker covers all) and for the host's session
  index (`LIVEGUARD_HOST_INDEX_DIR`: `/sessions` on any worker shows every call), and removes it;
- restarts a worker that dies (its calls are gone, the others never notice), with a bounded rate;
- on SIGTERM / SIGINT sends SIGTERM to every worker (each drains), a second one again (each
  stops at once), and exits when they all have. A worker that receives `POST /drain` sends the
  supervisor SIGUSR1, so a drain always covers the whole host (and a SIGTERM after it, from a
  deploy, is still the first: it does not cut the drain short).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from liveguard.config.settings import Settings

log = logging.getLogger("liveguard.supervisor")

READY_TIMEOUT_S = 120.0  # a worker that prints no ready line within this failed to start
RESTART_BACKOFF_S = 0.5
MAX_RESTARTS_PER_MIN = 20
INDEX_ENV = "LIVEGUARD_HOST_INDEX_DIR"
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
DRAIN_SIGNAL = signal.SIGUSR1  # a worker that got POST /drain asks for the host's drain


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (a
    container limited to 2 CPUs on a 64-core host runs 2 workers, not 64)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here
    return max(1, cores)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it if the supervisor dies (Linux prctl), so a killed
    supervisor never leaves orphan workers holding the port."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound SO_REUSEPORT socket that never listens: it keeps the port for the workers."""
    family, kind, proto, _, addr = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(addr)
    return sock


class Worker:
    """One worker process and what the supervisor knows about it."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None
        self.ready: dict = {}
        self.restarts: list[float] = []

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


class Supervisor:
    """Runs `workers` copies of `liveguard serve <flags>` on one port until told to stop."""

    def __init__(self, settings: Settings, workers: int, flags: list[str]) -> None:
        self.settings = settings
        self.workers = [Worker(i) for i in range(workers)]
        self.flags = flags
        self.stopping = 0  # 1: draining, 2: stopping at once
        self.signals = 0  # SIGTERM / SIGINT received
        self.tmp: Path | None = None
        self.port = settings.port

    def run(self) -> int:
        return asyncio.run(self._main())

    async def _main(self) -> int:
        self.tmp = Path(tempfile.mkdtemp(prefix="liveguard-host-"))
        sock: socket.socket | None = None
        try:
            sock = reserve_port(self.settings.host, self.settings.port)
            self.port = sock.getsockname()[1]
            (self.tmp / "metrics").mkdir()
            (self.tmp / "sessions").mkdir()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._on_signal)
            loop.add_signal_handler(DRAIN_SIGNAL, self._drain_all)  # a worker's POST /drain
            started = await asyncio.gather(*(self._start(w) for w in self.workers))
            if not all(started):
                print("liveguard serve: a worker did not start", file=sys.stderr, flush=True)
                self.stopping = 2
                self._signal_all()
                await self._wait_all()
                # a worker's own exit status says why (2: settings or upstream configuration)
                codes = [w.proc.returncode for w in self.workers if w.proc is not None]
                return next((c for c in codes if c and c > 0), 1)
            self._announce()
            await asyncio.gather(*(self._watch(w) for w in self.workers))
            print("liveguard serve: stopped (all workers)", file=sys.stderr, flush=True)
            return 0
        except OSError as exc:
            print(
                f"liveguard serve: cannot listen on {self.settings.host}:{self.settings.port}: "
                f"{exc}",
                file=sys.stderr,
            )
            return 1
        finally:
            if sock is not None:
                sock.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------------ workers

    def _env(self, worker: Worker) -> dict[str, str]:
        assert self.tmp is not None
        env = dict(os.environ)
        env[METRICS_ENV] = str(self.tmp / "metrics")
        env[INDEX_ENV] = str(self.tmp / "sessions")
        env["LIVEGUARD_WORKER_INDEX"] = str(worker.index)
        return env

    async def _start(self, worker: Worker) -> bool:
        """Start one worker and wait for its ready line."""
        cmd = [sys.executable, "-m", "liveguard", "serve", *self.flags]
        cmd += ["--port", str(self.port), "--workers", "1", "--worker-of", str(os.getpid())]
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdout=asyncio.subprocess.PIPE,
            env=self._env(worker),
            preexec_fn=_die_with_parent,  # prctl only: no locks taken
        )
        worker.proc = proc
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT_S)
            worker.ready = json.loads(line) if line else {}
        except (TimeoutError, ValueError):
            worker.ready = {}
        if not worker.ready:
            with contextlib.suppress(TimeoutError):  # it failed by itself: keep its status
                await asyncio.wait_for(proc.wait(), 5.0)
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            return False
        asyncio.create_task(self._drain_stdout(proc))  # noqa: RUF006 - ends with the process
        return True

    @staticmethod
    async def _drain_stdout(proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while await proc.stdout.readline():
            pass

    async def _watch(self, worker: Worker) -> None:
        """Wait for the worker to exit; restart it unless the host is stopping."""
        while True:
            assert worker.proc is not None
            pid = worker.pid
            code = await worker.proc.wait()
            await self._forget(pid)
            if self.stopping:
                return
            now = time.monotonic()
            worker.restarts = [t for t in worker.restarts if now - t < 60.0] + [now]
            print(
                f"liveguard serve: worker {worker.index} (pid {pid}) exited with {code}; "
                "restarting it",
                file=sys.stderr,
                flush=True,
            )
            if len(worker.restarts) > MAX_RESTARTS_PER_MIN:
                print(
                    f"liveguard serve: worker {worker.index} keeps dying; stopping the host",
                    file=sys.stderr,
                    flush=True,
                )
                self._drain_all()
                return
            await asyncio.sleep(RESTART_BACKOFF_S)
            if self.stopping:
                return
            if await self._start(worker):
                print(
                    f"liveguard serve: worker {worker.index} restarted (pid {worker.pid})",
                    file=sys.stderr,
                    flush=True,
                )

    async def _forget(self, pid: int | None) -> None:
        """A dead worker's live gauges and its session index entry go with it (in Redis too:
        else its calls would stay on every dashboard until the entry's TTL)."""
        if pid is None or self.tmp is None:
            return
        with contextlib.suppress(Exception):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, str(self.tmp / "metrics"))
        for path in (self.tmp / "sessions").glob(f"*-{pid}.json"):
            path.unlink(missing_ok=True)
        url = self.settings.redis_url
        if url is not None and url.get_secret_value():
            from liveguard.relay.redisstore import RedisStore

            store = RedisStore(url.get_secret_value())
            try:
                await store.forget(f"{socket.gethostname()}:{pid}")
            except Exception as exc:  # its TTL removes it later
                log.warning("could not remove worker %s from Redis: %s", pid, type(exc).__name__)
            finally:
                await store.close()

    # ------------------------------------------------------------------ stopping

    def _on_signal(self) -> None:
        """SIGTERM / SIGINT: the first drains every worker, a second stops them at once."""
        self.signals += 1
        if self.signals == 1 or not self.stopping:
            self._drain_all()
            return
        print("liveguard serve: stopping every worker now", file=sys.stderr, flush=True)
        self.stopping = 2
        self._signal_all()

    def _drain_all(self) -> None:
        """Every worker drains (once; what else asks for a drain meanwhile changes nothing)."""
        if self.stopping:
            return
        self.stopping = 1
        print("liveguard serve: draining every worker", file=sys.stderr, flush=True)
        self._signal_all()

    def _signal_all(self) -> None:
        for worker in self.workers:
            if worker.proc is not None and worker.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.send_signal(signal.SIGTERM)

    async def _wait_all(self) -> None:
        for worker in self.workers:
            if worker.proc is not None:
                await worker.proc.wait()
                await self._forget(worker.pid)

    def _announce(self) -> None:
        first = self.workers[0].ready
        host = first.get("url", "").rsplit(":", 1)[0]
        url = f"{host}:{self.port}"
        ws = "ws" + url[4:]
        print(
            f"liveguard serve: {len(self.workers)} workers listening on {url}",
            file=sys.stderr,
            flush=True,
        )
        print(
            json.dumps(
                {
                    "url": url,
                    "twilio_stream": f"{ws}/twilio/stream",
                    "browser_stream": f"{ws}/browser/stream",
                    "emulator": first.get("emulator"),
                    "scenario": first.get("scenario"),
                    "pid": os.getpid(),
                    "workers": [w.pid for w in self.workers],
                    "host_dir": str(self.tmp),
                }
            ),
            flush=True,
        )
