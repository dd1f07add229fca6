"""Callables the tool tests declare by `module:callable` (importable from this folder)."""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel, Field

state: dict[str, object] = {"calls": 0, "cancelled": 0, "active": 0, "peak": 0}


def add(a: int, b: int = 1) -> int:
    """Add two whole numbers."""
    state["calls"] = int(state["calls"]) + 1
    return a + b


async def greet(name: str) -> dict[str, str]:
    """Say hello to someone."""
    await asyncio.sleep(0)
    return {"greeting": f"hello {name}"}


def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"the stock system is down ({reason})")


async def slow(seconds: float) -> str:
    """Sleeps; counts how often it was cancelled and how many ran at once."""
    state["active"] = int(state["active"]) + 1
    state["peak"] = max(int(state["peak"]), int(state["active"]))
    try:
        await asyncio.sleep(seconds)
        return "done"
    except asyncio.CancelledError:
        state["cancelled"] = int(state["cancelled"]) + 1
        raise
    finally:
        state["active"] = int(state["active"]) - 1


def sync_slow(seconds: float) -> str:
    """Blocks its worker thread."""
    time.sleep(seconds)
    return "done"


def big(n: int) -> str:
    """A result of n characters."""
    return "x" * n


class Booking(BaseModel):
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    people: int = Field(ge=1, le=12)


def book_table(booking: Booking) -> dict[str, object]:
    """Book a table."""
    return {"booked": True, "date": booking.date, "people": booking.people}


not_callable = 42


async def slow_lookup(order_number: str) -> dict[str, str]:
    """Look up an order (slowly: the caller will barge in first)."""
    return {"status": await slow(30.0), "order_number": order_number}


class _Counter:
    def __call__(self, step: int = 1) -> int:
        return step


counter = _Counter()  # a callable object: no __name__, so the entry must name it


def broken_lookup(order_number: str) -> dict[str, str]:
    """Look up an order (the order system is down)."""
    raise RuntimeError("the order system is down")
