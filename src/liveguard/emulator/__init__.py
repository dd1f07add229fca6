"""The offline Gemini Live emulator: wire codec, TLS WebSocket server, emulated model, scenarios.

`Emulator` (server.py) is the entry point for tests and tools; it is imported lazily so that
importing a submodule (e.g. the sans-I/O model) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liveguard.emulator.server import DEFAULT_API_KEY, Emulator, SessionStats

__all__ = ["DEFAULT_API_KEY", "Emulator", "SessionStats"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from liveguard.emulator import server

        return getattr(server, name)
    raise AttributeError(f"module 'liveguard.emulator' has no attribute {name!r}")
