"""Secure by default: the bind rule, the browser Origin check and per-source admission limits.

Why here and sans-I/O: each rule is a small decision on plain values (an address, a header, a
clock), tested in fast time; `guard_middleware` is the thin aiohttp shell that applies them to the
two call routes before a WebSocket is accepted, so a refused caller costs one HTTP response and
never reaches the model.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from liveguard.config.settings import Settings

_STREAM_PATHS = ("/browser/stream", "/twilio/stream")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere: treat it as public


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


def bind_problems(settings: Settings) -> list[str]:
    """What is missing to listen on `settings.host` safely (empty: nothing).

    On a non-loopback address anyone who can reach the port could talk to Gemini on the
    operator's key and read live transcripts, so both tokens are needed unless `insecure`.
    """
    if is_loopback(settings.host):
        return []
    missing = [
        name
        for name, value in (
            ("auth_token", settings.auth_token),
            ("twilio_auth_token", settings.twilio_auth_token),
        )
        if not _secret(value)
    ]
    return [f"{name} is not set" for name in missing]


def _origin_of(url: str) -> tuple[str, str, int] | None:
    parts = urlsplit(url.strip())
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    return scheme, parts.hostname.lower(), port


def origin_allowed(origin: str | None, public_url: str | None, host_header: str) -> bool:
    """May a browser page from `origin` open the browser stream?

    With `public_url` the page must come from exactly that origin (ws/wss count as http/https);
    without it, from the host the request was sent to (the relay's own page). No Origin header
    means no browser (a script or a test client), which the auth token guards instead.
    """
    if origin is None:
        return True
    given = _origin_of(origin)
    if given is None:
        return False
    if public_url:
        return given == _origin_of(public_url)
    own = _origin_of(f"{given[0]}://{host_header}")
    return own is not None and given == own


@dataclass
class _Source:
    active: int = 0
    tokens: float = 0.0
    updated: float = 0.0


class AdmissionLimiter:
    """Per source address: at most `max_active` calls at once, and a token bucket of
    `per_minute` new calls (burst up to `per_minute`). Bounded: at most `max_sources` addresses are
    remembered; an idle one (no active call) is forgotten first."""

    def __init__(
        self,
        max_active: int,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_sources: int = 10000,
    ) -> None:
        self.max_active = max_active
        self.per_minute = per_minute
        self._clock = clock
        self._max_sources = max_sources
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self.refused = 0

    def enter(self, source: str) -> str | None:
        """Take a slot for a new call from `source`; the reason when it must be refused."""
        now = self._clock()
        entry = self._sources.get(source)
        if entry is None:
            entry = _Source(tokens=float(self.per_minute), updated=now)
            self._sources[source] = entry
            self._bound(keep=source)
        self._sources.move_to_end(source)
        entry.tokens = min(
            float(self.per_minute), entry.tokens + (now - entry.updated) * self.per_minute / 60.0
        )
        entry.updated = now
        if entry.active >= self.max_active:
            self.refused += 1
            return f"too many calls from this address ({entry.active} active)"
        if entry.tokens < 1.0:
            self.refused += 1
            return "too many new calls from this address; try again later"
        entry.tokens -= 1.0
        entry.active += 1
        return None

    def leave(self, source: str) -> None:
        """The call from `source` that `enter` admitted has ended."""
        entry = self._sources.get(source)
        if entry is not None and entry.active > 0:
            entry.active -= 1

    def active(self, source: str) -> int:
        entry = self._sources.get(source)
        return entry.active if entry is not None else 0

    def _bound(self, keep: str) -> None:
        """Forget idle sources, oldest first, down to `max_sources` (never `keep`, the one
        arriving, nor one with calls up: those are bounded by the calls themselves)."""
        if len(self._sources) <= self._max_sources:
            return
        for key in list(self._sources):
            if len(self._sources) <= self._max_sources:
                return
            if key != keep and self._sources[key].active == 0:
                del self._sources[key]


def guard_middleware(settings: Settings, limiter: AdmissionLimiter) -> Any:
    """The call routes' gate: Origin (browser stream), then the source's admission slot, held
    for as long as the call's handler runs. Twilio streams with a configured Twilio token are
    signed by Twilio (few source addresses, many calls), so only unsigned ones are limited."""
    limit_twilio = not _secret(settings.twilio_auth_token)

    @web.middleware
    async def gate(request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if path not in _STREAM_PATHS:
            return await handler(request)
        if path == "/browser/stream":
            origin = request.headers.get("Origin")
            if not origin_allowed(origin, settings.public_url, request.host):
                raise web.HTTPForbidden(text="this page's origin may not use the relay\n")
        elif not limit_twilio:
            return await handler(request)
        source = request.remote or "unknown"
        refused = limiter.enter(source)
        if refused is not None:
            raise web.HTTPTooManyRequests(text=refused + "\n", headers={"Retry-After": "10"})
        try:
            return await handler(request)
        finally:
            limiter.leave(source)

    return gate
