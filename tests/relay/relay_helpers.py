"""Helpers for the relay tests: reading the JSONL session logs a relay wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_log(log_dir: Path) -> list[dict[str, Any]]:
    """Every record of every session log in `log_dir` (one session per file)."""
    records: list[dict[str, Any]] = []
    for path in sorted(log_dir.glob("*.jsonl")):
        records += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return records


def logs_by_session(log_dir: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in read_log(log_dir):
        out.setdefault(rec["session"], []).append(rec)
    return out
