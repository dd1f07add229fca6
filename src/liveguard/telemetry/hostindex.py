"""The shared session index: every worker's (and with Redis every node's) live sessions, so the
dashboard of any one shows them all.

Why snapshots, not events: the dashboard needs the tables (health, turns, incidents), not every
frame; each process publishes its `SessionRegistry.snapshot()` when it changed (at most every
`min_interval_s`), and a dashboard poll merges its own fresh snapshot with the others'. Idle
processes publish nothing. Two stores: `FileIndex` (one JSON file per worker in a directory the
supervisor makes) and `RedisIndex` (relay/redisstore.py, one key per process with a TTL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from liveguard.telemetry.registry import SessionRegistry

log = logging.getLogger("liveguard.hostindex")

MAX_MERGED_ENDED = 50
MAX_MERGED_INCIDENTS = 100


def worker_name() -> str:
    """This process in the index: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


class SessionIndex(Protocol):
    async def publish(self, snapshot: dict[str, Any]) -> None: ...
    async def others(self) -> list[dict[str, Any]]: ...
    async def close(self) -> None: ...


class FileIndex:
    """One `<name>-<pid>.json` per worker in `directory`, replaced atomically."""

    def __init__(self, directory: str | Path, name: str | None = None) -> None:
        self.directory = Path(directory)
        self.name = name or worker_name()
        safe = self.name.replace("/", "_").replace(":", "-")
        self.path = self.directory / f"{safe}.json"

    async def publish(self, snapshot: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(snapshot, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, self.path)

    async def others(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for path in self.directory.glob("*.json"):
            if path == self.path:
                continue
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # a worker being replaced, or one that died mid-write
        return out

    async def close(self) -> None:
        self.path.unlink(missing_ok=True)


def merge(own: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
    """One dashboard snapshot from this process's and the others' (bounded like one registry)."""
    if not others:
        return own
    live = list(own["live"])
    ended = list(own["ended"])
    incidents = list(own["incidents"])
    dropped = own.get("dropped_sessions", 0)
    for snap in others:
        live += snap.get("live", [])
        ended += snap.get("ended", [])
        incidents += snap.get("incidents", [])
        dropped += snap.get("dropped_sessions", 0)
    ended.sort(key=lambda s: s.get("ended") or 0.0, reverse=True)
    unique: dict[tuple, dict[str, Any]] = {}
    for incident in incidents:  # one incident may come from a snapshot and a shared list
        ident = (incident.get("session"), incident.get("wall"), incident.get("kind"))
        unique.setdefault(ident, incident)
    incidents = sorted(unique.values(), key=lambda i: i.get("wall") or 0.0, reverse=True)
    return {
        **own,
        "live": live,
        "ended": ended[:MAX_MERGED_ENDED],
        "incidents": incidents[:MAX_MERGED_INCIDENTS],
        "dropped_sessions": dropped,
        "workers": 1 + sum(1 for snap in others if snap.get("worker")),
    }


class IndexPublisher:
    """Publishes a registry's snapshot to an index after each change, throttled; no timer runs
    while nothing changes. `refresh_s` re-publishes an unchanged snapshot (a Redis key's TTL
    needs it; None for files)."""

    def __init__(
        self,
        registry: SessionRegistry,
        index: SessionIndex,
        *,
        min_interval_s: float = 0.5,
        refresh_s: float | None = None,
    ) -> None:
        self.registry = registry
        self.index = index
        self.min_interval_s = min_interval_s
        self.refresh_s = refresh_s
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        registry.on_change = self._changed.set

    def start(self) -> None:
        self._changed.set()  # publish the empty registry once: the worker is up
        self._task = asyncio.create_task(self._run(), name="lg-index-publisher")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.refresh_s)
            self._changed.clear()
            await self._publish()
            await asyncio.sleep(self.min_interval_s)

    async def _publish(self) -> None:
        try:
            await self.index.publish(self.registry.snapshot())
        except Exception as exc:  # the dashboard is not worth a call: log and go on
            log.warning("session index publish failed: %s", type(exc).__name__)

    async def others(self) -> list[dict[str, Any]]:
        try:
            return await self.index.others()
        except Exception as exc:
            log.warning("session index read failed: %s", type(exc).__name__)
            return []

    async def close(self) -> None:
        self.registry.on_change = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await self.index.close()


HostView = Callable[[], Awaitable[list[dict[str, Any]]]]
