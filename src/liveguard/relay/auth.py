"""The relay's bearer-token check: one shared token for the browser stream, the dashboard, the
metrics and `POST /drain`. The token is compared in constant time and never echoed."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

# routes that never need the relay's auth token: health checks, the phone carriers (they cannot
# send it; their answer requests are signed when the carrier's secret is set: docs/relay.md), and
# the page's static files (the page passes its ?token= on to the browser stream, which checks it)
_CARRIERS = ("/twilio/", "/telnyx/", "/plivo/", "/vonage/", "/exotel/")
_OPEN_PATHS = ("/healthz", "/readyz", "/livez", "/static/", *_CARRIERS)


def auth_middleware(token: str) -> Any:
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
