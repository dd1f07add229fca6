"""`liveguard` as a real process, for the tests of its command line (doctor, serve)."""

from __future__ import annotations

import subprocess
import sys

LIVEGUARD = [sys.executable, "-m", "liveguard"]


def run_liveguard(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`liveguard ARGS` to its end (60 s at most), its output captured as text."""
    return subprocess.run(
        [*LIVEGUARD, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def start_liveguard(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """`liveguard ARGS` started (a server): the caller reads its pipes and ends it."""
    return subprocess.Popen(
        [*LIVEGUARD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
