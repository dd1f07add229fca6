"""Tools end to end: a phone call (the simulated caller) -> relay -> GuardedSession -> the real
google-genai SDK -> the emulator over TLS, whose model calls `lookup_order` when the caller gives
the order number. Each configuration runs on a relay of its own, all at once (real time):
a Python callable BLOCKING and NON_BLOCKING with each scheduling, a webhook (a real local aiohttp
server), a failing tool, a timing-out tool, and a barge-in that cancels a running call.

Every call is answered: the caller hears the model after giving the order number (or after
barging in; a SILENT result is not spoken about, and the guard's tool rules leave it alone), and
every call the model made got exactly one response, or none when cancelled.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from liveguard.caller.script import parse_script
from liveguard.caller.simulated import run_call
from liveguard.config.settings import Settings
from liveguard.emulator.server import Emulator
from liveguard.relay.server import Relay
from liveguard.tools import verify
from liveguard.tools.examples import ORDERS

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
LOOKUP = "liveguard.tools.examples:lookup_order"
SECRET = "webhook-test-secret"
ORDER_CALL = "order-lookup"
BARGE_CALL = parse_script(
    {
        "name": "order-then-barge-in",
        "steps": [
            {"wait_answer": 10},
            {"say": "order_number"},
            {"pause": 1.5},  # the (slow) tool is running
            {"say": "still_there"},
            {"wait_answer": 10},
        ],
    }
)


def cases(webhook_url: str) -> dict[str, tuple[list[dict[str, Any]], str]]:
    """name -> (tools setting, expected outcome of the one call)."""
    schema = {
        "type": "object",
        "properties": {"order_number": {"type": "string", "pattern": "^[0-9]{1,12}$"}},
        "required": ["order_number"],
    }
    nb = {"function": LOOKUP, "behavior": "NON_BLOCKING"}
    return {
        "blocking": ([{"function": LOOKUP, "behavior": "BLOCKING"}], "ok"),
        "interrupt": ([{**nb, "scheduling": "INTERRUPT"}], "ok"),
        "when_idle": ([{**nb, "scheduling": "WHEN_IDLE"}], "ok"),
        "silent": ([{**nb, "scheduling": "SILENT"}], "ok"),
        "webhook": (
            [
                {
                    "webhook": webhook_url,
                    "name": "lookup_order",
                    "description": "Look up an order by its number.",
                    "parameters": schema,
                    "secret": SECRET,
                }
            ],
            "ok",
        ),
        "failing": ([{"function": "tool_fixtures:broken_lookup", "name": "lookup_order"}], "error"),
        "timeout": (
            [{"function": "tool_fixtures:slow_lookup", "name": "lookup_order", "timeout_s": 0.5}],
            "timeout",
        ),
        "barge_in": (
            [{"function": "tool_fixtures:slow_lookup", "name": "lookup_order"}],
            "cancelled",
        ),
    }


async def order_service(received: list[dict[str, Any]]) -> web.AppRunner:
    async def lookup(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(SECRET, body, request.headers.get("X-Liveguard-Signature")):
            return web.Response(status=401)
        args = json.loads(body)
        received.append(args)
        return web.json_response(ORDERS.get(args["order_number"], {"status": "not found"}))

    app = web.Application()
    app.router.add_post("/lookup", lookup)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def log_records(log_dir: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(log_dir.glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


async def test_every_tool_configuration_is_answered_through_the_relay(tmp_path: Path) -> None:
    received: list[dict[str, Any]] = []
    service = await order_service(received)
    port = service.addresses[0][1]
    relays: dict[str, Relay] = {}
    async with Emulator(scenario="tool-call") as emu:
        try:
            for name, (tools, _) in cases(f"http://127.0.0.1:{port}/lookup").items():
                settings = Settings.load(
                    None, model=MODEL, port=0, log_dir=tmp_path / name, tools=tools
                )
                relays[name] = Relay(settings, client=emu.client(), emulated=True)
                await relays[name].start()
            calls = await asyncio.gather(
                *(
                    run_call(
                        r.twilio_url,
                        BARGE_CALL if name == "barge_in" else ORDER_CALL,
                        max_duration_s=60,
                    )
                    for name, r in relays.items()
                )
            )
        finally:
            for r in relays.values():
                await r.stop()
            await service.cleanup()
        stats = [s.model_stats for s in emu.sessions]
    expected = cases("http://unused")
    outcomes = [outcome for _, outcome in expected.values()]
    for name, call, outcome in zip(relays, calls, outcomes, strict=True):
        log = log_records(tmp_path / name)
        finished = [r for r in log if r["event"] == "tool_call_finished"]
        responses = [r for r in log if r["event"] == "tool_response"]
        assert [f["outcome"] for f in finished] == [outcome], name
        verdicts = [r for r in log if r["event"] == "verdict"]
        if name == "silent":  # NON_BLOCKING + SILENT: the model does not speak about it
            assert not any(v["evidence"].get("tool") for v in verdicts), name
        else:
            assert call.turns[-1]["answered"] is True, name  # the caller heard an answer
        if outcome == "cancelled":
            assert responses == [], name
            assert any(r["event"] == "tool_call_cancellation" for r in log), name
        else:
            assert [r["ids"] for r in responses] == [[finished[0]["call_id"]]], name
    assert received == [{"order_number": "456"}]  # the webhook got the model's arguments
    assert sum(s.tool_calls_sent for s in stats) == len(expected)
    assert sum(s.tool_responses for s in stats) == len(expected) - 1
    assert sum(s.tool_call_cancellations for s in stats) == 1
