"""Tool runner overhead: µs per call that the runner adds around the tool itself.

Run:  .venv/bin/python bench/bench_tools.py [--calls 3000]

Rows (median / p99 / mean wall time per call, sequential calls on one loop, after warm-up):
- baseline: the example tool (`lookup_order`) awaited directly, as an application would without
  the runner (an async wrapper around the sync function, no validation, no events);
- the runner with the same tool as an async callable: schema check (jsonschema), pydantic
  validation into the callable's types, timeout, result size check, two events, the response;
- the runner with the sync callable (the shipped form): the same plus the hop to a tool thread;
- the runner refusing an undeclared name and invalid arguments (the error paths).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import types as pytypes
from collections.abc import Awaitable, Callable

from google.genai import types

from benchlib import no_gc_pauses, percentile
from liveguard.config.settings import Settings
from liveguard.tools import ToolRunner
from liveguard.tools.examples import lookup_order

ARGS = {"order_number": "456"}


async def async_lookup(order_number: str) -> dict[str, str]:
    """Look up an order by its number."""
    return lookup_order(order_number)


async def timed(fn: Callable[[], Awaitable[object]], calls: int) -> list[float]:
    for _ in range(min(200, calls)):
        await fn()
    out = []
    with no_gc_pauses():
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            await fn()
            out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def row(name: str, us: list[float], base: float | None = None) -> None:
    med = statistics.median(us)
    extra = f"  (+{med - base:7.1f} over the baseline)" if base is not None else ""
    print(
        f"{name:44} median {med:8.1f} µs  p99 {percentile(us, 0.99):8.1f}  "
        f"mean {statistics.fmean(us):8.1f}{extra}"
    )


async def main(calls: int) -> None:
    module = pytypes.ModuleType("bench_tools_mod")  # importable by `module:callable`
    module.async_lookup = async_lookup  # type: ignore[attr-defined]
    sys.modules["bench_tools_mod"] = module
    s = Settings(
        tools=[
            {"function": "liveguard.tools.examples:lookup_order"},
            {"function": "bench_tools_mod:async_lookup"},
        ]
    )
    runner = ToolRunner.from_entries(s.tools, emit=lambda e: None)
    ok = types.FunctionCall(id="b", name="async_lookup", args=ARGS)
    sync_call = types.FunctionCall(id="b", name="lookup_order", args=ARGS)
    undeclared = types.FunctionCall(id="b", name="nope", args=ARGS)
    invalid = types.FunctionCall(id="b", name="async_lookup", args={"order_number": 4})

    base = await timed(lambda: async_lookup(**ARGS), calls)
    row("baseline: the tool awaited directly", base)
    b = statistics.median(base)
    row("runner, async callable", await timed(lambda: runner.run(ok), calls), b)
    row("runner, sync callable (thread hop)", await timed(lambda: runner.run(sync_call), calls), b)
    for name, call in (("undeclared name", undeclared), ("invalid arguments", invalid)):
        row(f"runner, {name} (error response)", await timed(lambda c=call: runner.run(c), calls), b)
    await runner.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    asyncio.run(main(parser.parse_args().calls))
