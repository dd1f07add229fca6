"""The Redis store against a real redis-server: the shared index with its TTL, incidents that
outlive their node, and resumption handles by conversation key."""

from __future__ import annotations

import asyncio

from liveguard import events as ev
from liveguard.relay.redisstore import RedisStore
from liveguard.relay.resume import HandleStore, new_key
from liveguard.telemetry.registry import SessionRegistry


async def test_index_incidents_and_handles_are_shared(redis_url: str) -> None:
    node_a, node_b = RedisStore(redis_url), RedisStore(redis_url)
    try:
        assert await node_a.ping()
        reg = SessionRegistry()
        reg.worker = "a:1"
        reg.register("call-a", transport="browser")
        reg.record("call-a", ev.Verdict(t=3.0, kind="unanswered_turn", turn=2))
        index_a, index_b = node_a.index("a:1"), node_b.index("b:1")
        await index_a.publish(reg.snapshot())
        await index_a.publish(reg.snapshot())  # the same incident is pushed once
        seen = await index_b.others()
        snaps = [s for s in seen if s["worker"]]
        assert [s["session"] for s in snaps[0]["live"]] == ["call-a"]
        shared = [i for s in seen if not s["worker"] for i in s["incidents"]]
        assert [i["kind"] for i in shared] == ["unanswered_turn"]
        assert 0 < await node_a.client.ttl("liveguard:index:a:1") <= 30

        await index_a.close()  # node a goes away: its calls leave every dashboard ...
        seen = await index_b.others()
        assert not [s for s in seen if s["worker"]]
        # ... its incidents stay
        assert [i["kind"] for s in seen for i in s["incidents"]] == ["unanswered_turn"]

        handles_a, handles_b = HandleStore(node_a), HandleStore(node_b)
        key = new_key()
        sink = handles_a.sink(key)
        sink(ev.ResumptionUpdate(t=1.0, handle="h-1", resumable=True))
        sink(ev.ResumptionUpdate(t=2.0, handle="h-2", resumable=True))
        sink(ev.ResumptionUpdate(t=3.0, handle=None, resumable=False))  # kept: h-2
        for _ in range(100):
            if await handles_b.load(key) == "h-2":
                break
            await asyncio.sleep(0.02)
        assert await handles_b.load(key) == "h-2"  # another node finds it
        assert await handles_b.load(new_key()) is None
        assert await handles_b.load("../../etc") is None  # not a key: never looked up
        assert 0 < await node_a.client.ttl(f"liveguard:resume:{key}") <= 900
        await handles_a.close()
        await handles_b.close()
    finally:
        await node_a.close()
        await node_b.close()


async def test_a_redis_that_is_down_costs_no_call() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")  # nothing listens there
    handles = HandleStore(store)
    try:
        key = new_key()
        handles.sink(key)(ev.ResumptionUpdate(t=1.0, handle="h", resumable=True))
        await asyncio.sleep(0.1)
        assert await handles.load(new_key()) is None  # logged, not raised
    finally:
        await handles.close()
        await store.close()
