"""Telemetry: per-session JSONL logs, Prometheus metrics, and the live-session registry.

Records what happened; decides nothing (decisions are the guard's).
"""

from liveguard.telemetry.jsonl import Scrubber, SessionLog, open_session_log
from liveguard.telemetry.metrics import DOWN, UP, MetricsRecorder
from liveguard.telemetry.registry import LiveSession, SessionRegistry

__all__ = [
    "DOWN",
    "UP",
    "LiveSession",
    "MetricsRecorder",
    "Scrubber",
    "SessionLog",
    "SessionRegistry",
    "open_session_log",
]
