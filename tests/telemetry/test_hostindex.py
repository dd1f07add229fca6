"""The shared session index: merging snapshots, the file store, and a publisher that writes after
changes only (nothing while idle)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from liveguard import events as ev
from liveguard.telemetry.hostindex import FileIndex, IndexPublisher, merge
from liveguard.telemetry.registry import SessionRegistry


def _registry(worker: str, *sessions: str) -> SessionRegistry:
    reg = SessionRegistry()
    reg.worker = worker
    for sid in sessions:
        reg.register(sid, transport="twilio")
    return reg


def test_merge_shows_every_workers_calls_and_bounds_the_lists() -> None:
    a, b = _registry("h:1", "a1", "a2"), _registry("h:2", "b1")
    a.record("a1", ev.Verdict(t=1.0, kind="wedge", turn=2))
    b.record("b1", ev.Verdict(t=2.0, kind="phantom_interrupt", turn=1))
    for i in range(60):
        b.register(f"old{i}")
        b.unregister(f"old{i}", "hung up")
    merged = merge(a.snapshot(), [b.snapshot()])
    live = {(s["session"], s["worker"]) for s in merged["live"]}
    assert live == {("a1", "h:1"), ("a2", "h:1"), ("b1", "h:2")}
    assert merged["workers"] == 2
    assert {i["kind"] for i in merged["incidents"]} == {"wedge", "phantom_interrupt"}
    assert len(merged["ended"]) <= 50
    # an incident both in a snapshot and in a shared list is shown once
    shared_list = {"live": [], "incidents": b.snapshot()["incidents"]}
    again = merge(a.snapshot(), [b.snapshot(), shared_list])
    assert len(again["incidents"]) == 2
    own = a.snapshot()
    assert merge(own, []) is own  # one process: its own snapshot as it is


async def test_file_index_publishes_and_reads_the_others(tmp_path: Path) -> None:
    one, two = FileIndex(tmp_path, "h:1"), FileIndex(tmp_path, "h:2")
    await one.publish(_registry("h:1", "x").snapshot())
    await two.publish(_registry("h:2", "y").snapshot())
    (tmp_path / "torn.json").write_text("{not json")  # a worker that died mid-write
    assert [s["worker"] for s in await one.others()] == ["h:2"]
    await two.close()
    assert await one.others() == []


class _Counting:
    def __init__(self) -> None:
        self.published: list[dict] = []

    async def publish(self, snapshot: dict) -> None:
        self.published.append(snapshot)

    async def others(self) -> list[dict]:
        return []

    async def close(self) -> None:
        pass


async def test_publisher_writes_after_changes_and_is_quiet_while_idle() -> None:
    reg, store = _registry("h:1"), _Counting()
    pub = IndexPublisher(reg, store, min_interval_s=0.05)
    pub.start()
    await asyncio.sleep(0.2)
    assert len(store.published) == 1  # the empty registry once: the worker is up
    await asyncio.sleep(0.3)
    assert len(store.published) == 1  # idle: nothing more
    for i in range(50):  # a burst of changes is throttled into few writes
        reg.register(f"s{i}")
    await asyncio.sleep(0.3)
    assert 2 <= len(store.published) <= 4
    assert len(store.published[-1]["live"]) == 50
    await pub.close()
    assert reg.on_change is None
