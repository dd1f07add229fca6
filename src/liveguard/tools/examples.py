"""A shipped example tool: order lookup over a small fixture (the emulator's `tool-call` scenario
asks for order 456). Declared in settings as `function: "liveguard.tools.examples:lookup_order"`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

ORDERS: dict[str, dict[str, str]] = {
    "123": {"status": "processing", "item": "blue kettle", "eta": "in 3 days"},
    "456": {"status": "shipped", "item": "desk lamp", "eta": "tomorrow"},
    "789": {"status": "delivered", "item": "running shoes", "eta": "delivered on Monday"},
}

DEMO_TOOLS: list[dict[str, str]] = [{"function": "liveguard.tools.examples:lookup_order"}]


def lookup_order(
    order_number: Annotated[str, Field(pattern=r"^[0-9]{1,12}$", description="digits only")],
) -> dict[str, str]:
    """Look up an order by its number: its status, the item and when it arrives."""
    order = ORDERS.get(order_number.strip())
    if order is None:
        return {"status": "not found", "order_number": order_number}
    return {"order_number": order_number, **order}
