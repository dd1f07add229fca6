"""Redis for relays that scale out (`redis_url`): the live session index, recent incidents and
resumption handles, shared by every worker of every node.

Keys (all under `prefix`, default `liveguard:`):
- `index:<host:pid>`: one process's dashboard snapshot (JSON), with a TTL its publisher refreshes,
  so a node that dies vanishes from every dashboard by itself;
- `incidents`: the newest incidents of all nodes (a capped list), kept after their node is gone;
- `resume:<key>`: a conversation's newest resumption handle, with a TTL.

Uses the `redis` package's asyncio client. Every call has a short timeout: Redis being slow or
down costs the dashboard or a resume, never a call.
"""

from __future__ import annotations

import json
from typing import Any

from redis import asyncio as aioredis

INDEX_TTL_S = 30  # a snapshot not refreshed for this long is a dead process's
INDEX_REFRESH_S = 10.0
MAX_INCIDENTS = 100


class RedisStore:
    """One connection pool; `index(name)` and the handle backend share it."""

    def __init__(self, url: str, *, prefix: str = "liveguard:") -> None:
        self.prefix = prefix
        self.client = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=2.0
        )

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    def index(self, name: str) -> RedisIndex:
        return RedisIndex(self, name)

    async def forget(self, name: str) -> None:
        """Drop a dead process's snapshot (its supervisor knows it died; others wait for the
        TTL)."""
        await self.client.delete(f"{self.prefix}index:{name}")

    # ------------------------------------------------------------ resumption handles (Backend)

    async def save(self, key: str, handle: str, ttl_s: float) -> None:
        await self.client.set(f"{self.prefix}resume:{key}", handle, ex=max(1, int(ttl_s)))

    async def load(self, key: str) -> str | None:
        return await self.client.get(f"{self.prefix}resume:{key}")

    async def close(self) -> None:
        await self.client.aclose()


class RedisIndex:
    """A `SessionIndex` (telemetry/hostindex.py) in Redis."""

    def __init__(self, store: RedisStore, name: str) -> None:
        self.store = store
        self.name = name
        self._key = f"{store.prefix}index:{name}"
        self._pushed: set[tuple[str, float, str]] = set()

    async def publish(self, snapshot: dict[str, Any]) -> None:
        client = self.store.client
        fresh = []
        for incident in reversed(snapshot.get("incidents", [])):  # oldest first
            ident = (incident.get("session", ""), incident.get("wall", 0.0), incident.get("kind"))
            if ident not in self._pushed:
                fresh.append(json.dumps(incident, separators=(",", ":")))
                self._pushed.add(ident)
        if len(self._pushed) > 4 * MAX_INCIDENTS:  # bounded: keep the ones still in the snapshot
            self._pushed = {
                (i.get("session", ""), i.get("wall", 0.0), i.get("kind"))
                for i in snapshot.get("incidents", [])
            }
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(self._key, json.dumps(snapshot, separators=(",", ":")), ex=INDEX_TTL_S)
            if fresh:
                pipe.lpush(f"{self.store.prefix}incidents", *fresh)
                pipe.ltrim(f"{self.store.prefix}incidents", 0, MAX_INCIDENTS - 1)
            await pipe.execute()

    async def others(self) -> list[dict[str, Any]]:
        client = self.store.client
        keys = [k async for k in client.scan_iter(match=f"{self.store.prefix}index:*", count=200)]
        keys = [k for k in keys if k != self._key][:1000]
        out: list[dict[str, Any]] = []
        if keys:
            for raw in await client.mget(keys):
                if raw:
                    try:
                        out.append(json.loads(raw))
                    except ValueError:
                        continue
        incidents = await client.lrange(f"{self.store.prefix}incidents", 0, MAX_INCIDENTS - 1)
        shared: list[dict[str, Any]] = []
        for raw in incidents:
            try:
                shared.append(json.loads(raw))
            except ValueError:
                continue
        # incidents of every node, also of nodes that are gone (merge drops duplicates)
        out.append({"live": [], "ended": [], "incidents": shared, "worker": ""})
        return out

    async def close(self) -> None:
        await self.store.client.delete(self._key)
