"""Resumption handles by conversation: a browser caller whose socket drops reconnects with its
conversation's key and continues the same Gemini conversation, on this relay or (with Redis) any.

Why a key, not the call id: the key is a secret the page alone holds (the call id is on the
dashboard); whoever holds it can continue that conversation. The session's event sink is
synchronous and must never wait on the network, so `remember` only records the newest handle and
a single writer task sends it (a newer handle replaces one not yet written: only the latest
matters). Bounded: `max_keys` conversations in memory, `ttl_s` in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from liveguard import events as ev

log = logging.getLogger("liveguard.relay.resume")

RESUME_TTL_S = 900.0  # a dropped caller has this long to come back
KEY_BYTES = 16


def new_key() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def valid_key(key: str | None) -> bool:
    """A key this relay could have issued (anything else is ignored, never looked up)."""
    return bool(key) and 16 <= len(key or "") <= 64 and all(c.isalnum() or c in "-_" for c in key)


class Backend(Protocol):
    async def save(self, key: str, handle: str, ttl_s: float) -> None: ...
    async def load(self, key: str) -> str | None: ...


class MemoryBackend:
    """One process's handles (no Redis): a reconnect that lands on the same process resumes."""

    def __init__(self, max_keys: int = 10000) -> None:
        self._max_keys = max_keys
        self._handles: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def save(self, key: str, handle: str, ttl_s: float) -> None:
        loop = asyncio.get_running_loop()
        self._handles.pop(key, None)
        self._handles[key] = (handle, loop.time() + ttl_s)
        while len(self._handles) > self._max_keys:
            self._handles.popitem(last=False)

    async def load(self, key: str) -> str | None:
        entry = self._handles.get(key)
        if entry is None or entry[1] < asyncio.get_running_loop().time():
            return None
        return entry[0]


class HandleStore:
    """`sink(key)` is an event sink that keeps `key`'s newest resumption handle; `load(key)`
    gives it back (None when unknown, expired or the backend is unreachable)."""

    def __init__(self, backend: Backend, ttl_s: float = RESUME_TTL_S) -> None:
        self.backend = backend
        self.ttl_s = ttl_s
        self._pending: OrderedDict[str, str] = OrderedDict()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def sink(self, key: str) -> Callable[[object], None]:
        def remember(event: object) -> None:
            if isinstance(event, ev.ResumptionUpdate) and event.resumable and event.handle:
                self._remember(key, event.handle)

        return remember

    def _remember(self, key: str, handle: str) -> None:
        self._pending.pop(key, None)
        self._pending[key] = handle
        while len(self._pending) > 10000:  # a backend that stalls cannot grow this forever
            self._pending.popitem(last=False)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._writer(), name="lg-resume")
        self._wake.set()

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                key, handle = self._pending.popitem(last=False)
                try:
                    await self.backend.save(key, handle, self.ttl_s)
                except Exception as exc:  # the call goes on; only a later resume is lost
                    log.warning("saving a resumption handle failed: %s", type(exc).__name__)

    async def load(self, key: str) -> str | None:
        if not valid_key(key):
            return None
        if key in self._pending:
            return self._pending[key]
        try:
            return await self.backend.load(key)
        except Exception as exc:
            log.warning("loading a resumption handle failed: %s", type(exc).__name__)
            return None

    async def close(self) -> None:
        if self._task is not None:
            # what is still pending gets one last chance (bounded)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush(), 2.0)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _flush(self) -> None:
        while self._pending:
            key, handle = self._pending.popitem(last=False)
            await self.backend.save(key, handle, self.ttl_s)


def resume_params(params: dict[str, Any]) -> str | None:
    """The `?resume=` key of a browser request, if it looks like one of ours."""
    key = params.get("resume")
    return key if isinstance(key, str) and valid_key(key) else None
