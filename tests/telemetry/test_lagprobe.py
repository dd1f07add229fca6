"""The relay's loop-lag probe: a thread's due times, read by the loop like a caller's socket."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path

import pytest

from liveguard.telemetry.lagprobe import LoopLagProbe


async def test_a_blocked_loop_shows_as_the_wait_of_what_arrived_meanwhile() -> None:
    waits: list[float] = []
    probe = LoopLagProbe(waits.append, period_s=0.01)
    probe.start()
    try:
        await asyncio.sleep(0.1)  # an idle loop first
        idle = len(waits)
        time.sleep(0.3)  # noqa: ASYNC251 -- the point: the loop is stuck for 300 ms
        await asyncio.sleep(0.05)
    finally:
        probe.close()
    assert idle >= 3  # the idle loop was sampled too
    # what the thread sent during the block waited for it to end: the earliest of it ~300 ms
    assert max(waits[idle:]) >= 0.25
    # every due time sent during the block is read afterwards, none lost at this depth
    assert sum(w >= 0.05 for w in waits[idle:]) >= 10
    assert probe.samples == len(waits) and probe.dropped == 0


async def test_close_stops_the_thread_and_the_reader() -> None:
    waits: list[float] = []
    probe = LoopLagProbe(waits.append, period_s=0.005)
    probe.start()
    probe.start()  # idempotent
    await asyncio.sleep(0.05)
    probe.close()
    probe.close()
    count = len(waits)
    await asyncio.sleep(0.05)
    assert count > 0 and len(waits) == count
    assert not any(t.name == "lg-lag-probe" for t in threading.enumerate())


def test_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="period_s"):
        LoopLagProbe(lambda _: None, period_s=0)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
async def test_the_probe_thread_leaves_signals_to_the_loop_thread() -> None:
    """A process signal (SIGTERM, the timeout plugin's SIGALRM) taken by the probe thread would
    not wake the loop's poll; the thread blocks them all."""
    probe = LoopLagProbe(lambda _: None)
    probe.start()
    try:
        await asyncio.sleep(0.05)
        (thread,) = [t for t in threading.enumerate() if t.name == "lg-lag-probe"]
        status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()  # noqa: ASYNC240
    finally:
        probe.close()
    blocked = int(next(ln for ln in status.splitlines() if ln.startswith("SigBlk:")).split()[1], 16)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
        assert blocked & (1 << (sig - 1)), sig
