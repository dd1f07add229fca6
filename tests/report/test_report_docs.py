"""docs/events.md documents every event of the vocabulary, with its fields."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from liveguard.events import EVENT_TYPES

DOC = Path(__file__).parents[2] / "docs" / "events.md"


def test_every_event_and_field_is_documented():
    text = DOC.read_text()
    missing = []
    for name, cls in EVENT_TYPES.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` |")), None)
        if row is None:
            missing.append(name)
            continue
        for f in dataclasses.fields(cls):
            if f.name != "t" and f"`{f.name}`" not in row:
                missing.append(f"{name}.{f.name}")
    assert missing == []
