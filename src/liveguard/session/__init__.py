"""The guarded-session library: one continuous, guarded Gemini Live session for a caller.

See docs/session.md. The ten-line embed:

    async with GuardedSession(settings) as session:
        ...await session.send_audio(pcm, rate=8000)...
        async for item in session:          # Event | AudioOut | ToolCallOut | playback actions
            ...
"""

from __future__ import annotations

from liveguard.session.bounds import SessionBounds, SessionCounters
from liveguard.session.config import ensure_keepalive, live_config, make_client
from liveguard.session.guarded import GuardedSession
from liveguard.session.items import (
    AudioOut,
    Item,
    LiveConfigError,
    SessionClosed,
    SessionFailed,
    ToolCallOut,
)
from liveguard.session.ringbuffer import AudioRingBuffer
from liveguard.session.upstream_api import UpstreamFactory, UpstreamLink

__all__ = [
    "AudioOut",
    "AudioRingBuffer",
    "GuardedSession",
    "Item",
    "LiveConfigError",
    "SessionBounds",
    "SessionClosed",
    "SessionCounters",
    "SessionFailed",
    "ToolCallOut",
    "UpstreamFactory",
    "UpstreamLink",
    "ensure_keepalive",
    "live_config",
    "make_client",
]
