"""The relay's aiohttp application: health, metrics, Twilio, browser, the page, dashboard.

Holds no logic of its own: routes come from the transports, telemetry from liveguard.telemetry,
decisions from the guard inside each GuardedSession.
"""

from __future__ import annotations

import importlib

from aiohttp import web

from liveguard.relay.auth import auth_middleware
from liveguard.relay.context import RELAY_KEY, RelayContext
from liveguard.transports import browser, carriers, twilio


async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[RELAY_KEY]
    body = {
        "status": "shutting_down" if ctx.shutting_down else "ok",
        "calls": len(ctx.calls),
        "max_calls": ctx.settings.max_calls,
        "emulator": ctx.emulated,
        "model": ctx.settings.model,
    }
    return web.json_response(body, status=503 if ctx.shutting_down else 200)


async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[RELAY_KEY].metrics.exposition()
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = content_type
    return resp


def _mount_dashboard(app: web.Application, ctx: RelayContext) -> bool:
    """Mount the report engineer's `/sessions` dashboard when that module exists."""
    try:
        dashboard = importlib.import_module("liveguard.report.dashboard")
    except ImportError:
        return False
    add = getattr(dashboard, "add_dashboard_routes", None)
    if add is None:
        return False
    add(app, ctx.registry)
    return True


def build_app(ctx: RelayContext) -> web.Application:
    """The relay's aiohttp application around a prepared context."""
    middlewares = []
    if ctx.settings.auth_token is not None and ctx.settings.auth_token.get_secret_value():
        middlewares.append(auth_middleware(ctx.settings.auth_token.get_secret_value()))
    app = web.Application(client_max_size=64 * 1024, middlewares=middlewares)
    app[RELAY_KEY] = ctx
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    twilio.add_routes(app)
    browser.add_routes(app)
    carriers.add_routes(app)  # Telnyx, Plivo, Vonage, Exotel
    _mount_dashboard(app, ctx)

    async def on_shutdown(app: web.Application) -> None:
        await ctx.shutdown()

    app.on_shutdown.append(on_shutdown)
    return app
