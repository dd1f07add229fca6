"""The supervisor's small decisions: how many workers by default, and the flags a worker gets."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from liveguard.relay import cli
from liveguard.relay.supervisor import usable_cores


def test_usable_cores_respects_a_cgroup_quota(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert usable_cores(cpu_max) == affinity
    cpu_max.write_text("50000 100000\n")  # half a CPU: still one worker
    assert usable_cores(cpu_max) == 1
    cpu_max.write_text(f"{(affinity + 5) * 100000} 100000\n")  # a quota above the affinity
    assert usable_cores(cpu_max) == affinity
    assert usable_cores(tmp_path / "missing") == affinity


def test_a_worker_gets_the_same_flags_but_not_the_port_or_workers() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    given = ["--port", "9000", "--workers", "3", "--host", "0.0.0.0", "--insecure"]
    given += ["--redact-transcripts", "--set", "guard.answer_deadline_s=2.5"]
    given += ["--vad-mode", "client"]
    args = parser.parse_args([*given, "--log-level", "DEBUG"])
    argv = cli.worker_argv(args)
    again = parser.parse_args([*argv, "--port", "9001", "--workers", "1"])
    assert cli._overrides(again) == {**cli._overrides(args), "port": 9001, "workers": 1}
    assert again.log_level == "DEBUG"
    assert "--port" not in argv and "--workers" not in argv
