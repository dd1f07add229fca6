"""Webhook tools against a real local aiohttp server that checks the signature itself."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from google.genai import types
from hypothesis import given
from hypothesis import strategies as st

from liveguard import events as ev
from liveguard.config.settings import Settings
from liveguard.tools import ToolRunner, sign, verify

SECRET = "webhook-signing-secret"
PARAMS = {
    "type": "object",
    "properties": {"order_number": {"type": "string"}},
    "required": ["order_number"],
}


def answer(response: web.Response) -> Any:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return response

    return handler


class OrderService:
    """The receiving side: verifies X-Liveguard-Signature with its own HMAC, then answers."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_post("/orders", self.orders)
        self.app.router.add_post("/broken", answer(web.Response(status=503, text="down")))
        self.app.router.add_post("/text", answer(web.Response(text="<html>not json")))
        self.app.router.add_post("/huge", answer(web.json_response({"blob": "y" * 50_000})))
        self.app.router.add_post("/slow", self.slow)
        self.app.router.add_post(
            "/moved", answer(web.Response(status=302, headers={"Location": "/orders"}))
        )
        self.release = asyncio.Event()
        self.runner = web.AppRunner(self.app)
        self.url = ""

    async def orders(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        signature = request.headers.get("X-Liveguard-Signature", "")
        self.received.append(
            {
                "body": body,
                "valid": hmac.compare_digest(expected, signature),
                "auth": request.headers.get("Authorization"),
                "call_id": request.headers.get("X-Liveguard-Tool-Call-Id"),
            }
        )
        if not hmac.compare_digest(expected, signature):
            return web.json_response({"error": "bad signature"}, status=401)
        args = json.loads(body)
        return web.json_response({"order_number": args["order_number"], "status": "shipped"})

    async def slow(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return web.json_response({})

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture
async def service() -> AsyncIterator[OrderService]:
    svc = OrderService()
    await svc.start()
    try:
        yield svc
    finally:
        svc.release.set()
        await svc.runner.cleanup()


def hook(svc: OrderService, path: str, name: str = "orders", **extra: Any) -> dict[str, Any]:
    return {
        "webhook": svc.url + path,
        "name": name,
        "description": "Look up an order",
        "parameters": PARAMS,
        "secret": SECRET,
        "headers": {"Authorization": "Bearer service-token"},
        **extra,
    }


async def run_one(
    entries: list[dict[str, Any]], name: str, args: dict[str, Any], **kw: Any
) -> tuple[types.FunctionResponse | None, list[ev.Event]]:
    log: list[ev.Event] = []
    s = Settings(tools=entries, **kw)
    r = ToolRunner.from_entries(s.tools, limits=s.tool_limits, emit=log.append)
    try:
        resp = await r.run(types.FunctionCall(id="w1", name=name, args=args))
    finally:
        await r.aclose()
    return resp, log


def outcome(log: list[ev.Event]) -> str:
    return next(e.outcome for e in log if isinstance(e, ev.ToolCallFinished))


async def test_signed_webhook_round_trip(service: OrderService) -> None:
    resp, log = await run_one([hook(service, "/orders")], "orders", {"order_number": "456"})
    assert resp.response == {"output": {"order_number": "456", "status": "shipped"}}
    (got,) = service.received
    assert got["valid"] and json.loads(got["body"]) == {"order_number": "456"}
    assert got["auth"] == "Bearer service-token" and got["call_id"] == "w1"
    assert outcome(log) == "ok"
    started = next(e for e in log if isinstance(e, ev.ToolCallStarted))
    assert started.kind == "webhook"


async def test_wrong_secret_is_rejected_by_the_receiver_and_answered(
    service: OrderService,
) -> None:
    entry = hook(service, "/orders", secret="not-the-secret")
    resp, log = await run_one([entry], "orders", {"order_number": "456"})
    assert service.received[0]["valid"] is False
    assert resp.response == {"error": "the orders service answered HTTP 401"}
    assert outcome(log) == "webhook_error"


@pytest.mark.parametrize(
    ("path", "expected", "kind"),
    [
        ("/broken", "answered HTTP 503", "webhook_error"),
        ("/text", "did not answer with JSON", "webhook_error"),
        ("/huge", "too large", "too_large"),
        ("/moved", "answered HTTP 302", "webhook_error"),  # redirects are not followed
    ],
)
async def test_webhook_failures_become_speakable_errors(
    service: OrderService, path: str, expected: str, kind: str
) -> None:
    resp, log = await run_one(
        [hook(service, path)],
        "orders",
        {"order_number": "1"},
        tool_limits={"max_result_bytes": 4096},
    )
    assert expected in resp.response["error"]
    assert outcome(log) == kind
    assert "service-token" not in json.dumps([e.to_record() for e in log])


async def test_unreachable_and_slow_webhooks(service: OrderService) -> None:
    dead = dict(hook(service, "/orders"), webhook="http://127.0.0.1:9/orders")
    resp, log = await run_one([dead], "orders", {"order_number": "1"})
    assert "could not be reached" in resp.response["error"] and outcome(log) == "webhook_error"
    resp, log = await run_one(
        [hook(service, "/slow", timeout_s=0.3)], "orders", {"order_number": "1"}
    )
    assert "within 0.3 s" in resp.response["error"] and outcome(log) == "timeout"


async def test_invalid_arguments_are_not_posted(service: OrderService) -> None:
    resp, log = await run_one([hook(service, "/orders")], "orders", {"order_number": 456})
    assert resp.response["error"].startswith("invalid arguments")
    assert service.received == [] and outcome(log) == "invalid_args"


async def test_cancelled_webhook_sends_nothing_back(service: OrderService) -> None:
    s = Settings(tools=[hook(service, "/slow")])
    r = ToolRunner.from_entries(s.tools)
    task = asyncio.create_task(
        r.run(types.FunctionCall(id="s", name="orders", args={"order_number": "1"}))
    )
    await asyncio.sleep(0.2)
    assert r.cancel(["s"]) == ["s"]
    assert await asyncio.wait_for(task, 2) is None
    await r.aclose()


@given(
    secret=st.text(min_size=1, max_size=20), body=st.binary(max_size=200), flip=st.integers(0, 1599)
)
def test_signature_verifies_the_exact_body_only(secret: str, body: bytes, flip: int) -> None:
    header = sign(secret, body)
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert header == "sha256=" + expected and verify(secret, body, header)
    if body:
        i, bit = divmod(flip % (len(body) * 8), 8)
        tampered = bytearray(body)
        tampered[i] ^= 1 << bit
        assert not verify(secret, bytes(tampered), header)
    assert not verify(secret + "x", body, header) and not verify(secret, body, None)
