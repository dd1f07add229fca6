"""Running liveguard's asyncio programs: on uvloop when it is installed, else plain asyncio.

uvloop's transport and TLS layers are in C; asyncio's TLS layer (sslproto) is pure Python and was
the largest per-frame cost in the emulator and the relay (docs/emulator.md, docs/relay.md). Set
`LIVEGUARD_LOOP=asyncio` to force the standard loop (e.g. to compare in a benchmark).
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for the standard loop."""
    if os.environ.get("LIVEGUARD_LOOP", "uvloop").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """Like `asyncio.run`, on the fastest available loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def freeze_startup_heap() -> None:
    """Move everything allocated so far (modules, the SDK's pydantic models, the VAD) out of the
    garbage collector's sight for good. A server calls it once it is ready: those objects live
    as long as the process, and every full collection walked all of them while the loop stood
    still — the relay's longest event-loop stalls under load (docs/relay.md)."""
    gc.collect()
    gc.freeze()
