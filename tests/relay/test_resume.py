"""A browser caller whose socket drops reconnects with its conversation's key and continues the
same Gemini conversation (a resumed upstream session, no second greeting); a key the relay does
not know starts a new conversation. In-process handles here; Redis across workers in
test_workers_redis.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from browser_talk import PageCaller
from relay_helpers import logs_by_session


async def _no_calls(relay) -> None:
    for _ in range(200):  # bounded: the dropped call has ended and closed its upstream
        if not relay.ctx.calls:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the dropped call never ended")


async def test_a_dropped_browser_resumes_its_conversation(relay, tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as http:
        first = PageCaller(await http.ws_connect(relay.browser_url))
        ready = await first.wait_for("ready")
        assert ready["resumed"] is False and len(ready["resume"]) >= 16
        await first.wait_for("turn_complete")  # the greeting
        await first.say("check_order")
        await first.wait_for("answered")
        await first.wait_for("turn_complete", 2)
        await first.drop()
        await _no_calls(relay)

        again = PageCaller(await http.ws_connect(relay.browser_url + "?resume=" + ready["resume"]))
        back = await again.wait_for("ready")
        assert back["resumed"] is True and back["resume"] == ready["resume"]
        await again.say("order_number")
        answered = await again.wait_for("answered")
        assert answered["turn"] >= 1
        await again.hangup()
    logs = logs_by_session(tmp_path / "logs")
    second = logs[back["session"]]
    connected = [r for r in second if r["event"] == "upstream_connected"]
    assert connected[0]["resumed"] is True
    first_log = logs[ready["session"]]
    assert first_log[-1]["reason"] == "caller dropped"


async def test_an_unknown_key_starts_a_new_conversation(relay) -> None:
    async with aiohttp.ClientSession() as http:
        url = relay.browser_url + "?resume=" + "A" * 22
        caller = PageCaller(await http.ws_connect(url))
        ready = await caller.wait_for("ready")
        assert ready["resumed"] is False and ready["resume"] != "A" * 22
        await caller.wait_for("turn_complete")  # a new conversation greets
        await caller.hangup()
