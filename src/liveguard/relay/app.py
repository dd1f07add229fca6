"""The relay's aiohttp application: health, metrics, Twilio, browser, the page, dashboard.

Holds no logic of its own: routes come from the transports, telemetry from liveguard.telemetry,
decisions from the guard inside each GuardedSession.
"""

from __future__ import annotations

import importlib
import os

from aiohttp import web

from liveguard.relay.auth import auth_middleware
from liveguard.relay.context import RELAY_KEY, RelayContext
from liveguard.relay.security import guard_middleware, is_loopback
from liveguard.transports import browser, carriers, twilio


async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[RELAY_KEY]
    body = {
        "status": "shutting_down" if ctx.shutting_down else "draining" if ctx.draining else "ok",
        "pid": os.getpid(),
        "calls": len(ctx.calls),
        "max_calls": ctx.settings.max_calls,
        "emulator": ctx.emulated,
        "model": ctx.settings.model,
    }
    return web.json_response(body, status=503 if ctx.shutting_down else 200)


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 503 from the moment a drain starts (send new calls elsewhere)."""
    ctx = request.app[RELAY_KEY]
    state = "ready" if ctx.ready else ("draining" if ctx.draining else "shutting_down")
    body = {"status": state, "calls": len(ctx.calls), "pid": os.getpid()}
    return web.json_response(body, status=200 if ctx.ready else 503)


async def livez(request: web.Request) -> web.Response:
    """Liveness: 200 while the event loop answers, draining or not (never restart a drain)."""
    return web.json_response({"status": "alive", "pid": os.getpid()})


async def drain(request: web.Request) -> web.Response:
    """`POST /drain`: start the drain SIGTERM starts. Needs the operator token (the auth
    middleware); without an `auth_token` configured, only from this machine."""
    ctx = request.app[RELAY_KEY]
    token = ctx.settings.auth_token
    if (token is None or not token.get_secret_value()) and not is_loopback(request.remote or ""):
        raise web.HTTPForbidden(text="POST /drain needs auth_token, or a request from loopback\n")
    ctx.start_drain()
    return web.json_response({"status": "draining", "calls": len(ctx.calls)}, status=202)


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
    if ctx.host_view is not None:
        add(app, ctx.registry, ctx.host_view)
    else:
        add(app, ctx.registry)
    return True


def build_app(ctx: RelayContext) -> web.Application:
    """The relay's aiohttp application around a prepared context."""
    middlewares = []
    if ctx.settings.auth_token is not None and ctx.settings.auth_token.get_secret_value():
        middlewares.append(auth_middleware(ctx.settings.auth_token.get_secret_value()))
    middlewares.append(guard_middleware(ctx.settings, ctx.admission))
    app = web.Application(client_max_size=64 * 1024, middlewares=middlewares)
    app[RELAY_KEY] = ctx
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/livez", livez)
    app.router.add_post("/drain", drain)
    app.router.add_get("/metrics", metrics)
    twilio.add_routes(app)
    browser.add_routes(app)
    carriers.add_routes(app)  # Telnyx, Plivo, Vonage, Exotel
    _mount_dashboard(app, ctx)

    async def on_shutdown(app: web.Application) -> None:
        await ctx.shutdown()

    app.on_shutdown.append(on_shutdown)
    return app
