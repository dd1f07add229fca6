"""`liveguard doctor` as a subprocess on YAML files, the incident's VAD settings included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CURRENT_MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"


def doctor(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEGUARD_")}
    env.pop("GEMINI_API_KEY", None)
    env.pop("GOOGLE_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "liveguard", "doctor", str(path), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def write(tmp_path: Path):
    (tmp_path / "sorry.wav").write_bytes(b"RIFF")

    def _write(text: str) -> Path:
        if "\nmodel:" not in "\n" + text.lstrip():  # a served model: the default may be retired
            text = f"model: {CURRENT_MODEL}\n{text}"
        path = tmp_path / "settings.yaml"
        path.write_text(text)
        return path

    return _write


SAFE = """
fallback_audio: sorry.wav
vad:
  start_of_speech_sensitivity: START_SENSITIVITY_LOW
  end_of_speech_sensitivity: END_SENSITIVITY_HIGH
  silence_duration_ms: 500
"""


def test_safe_settings_exit_0(write):
    res = doctor(write(SAFE))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "nothing risky" in res.stdout


def test_incident_vad_settings_are_explained(write):
    res = doctor(
        write(
            """
vad:
  start_of_speech_sensitivity: START_SENSITIVITY_HIGH
  end_of_speech_sensitivity: END_SENSITIVITY_LOW
  prefix_padding_ms: 200
  silence_duration_ms: 1200
"""
        )
    )
    assert res.returncode == 1
    out = res.stdout
    assert "detect speech MORE readily" in out
    assert "END_SENSITIVITY_LOW with silence_duration_ms=1200" in out
    assert "fallback_audio: not set" in out


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("guard:\n  enabled: false\n", "the guard is off"),
        ("guard:\n  answer_deadline_s: 6\n", "sit in silence"),
        ("ping_timeout_s: 20\n", "8-30 s"),
        (
            "vad:\n  start_of_speech_sensitivity: START_SENSITIVITY_LOW\n"
            "  activity_handling: NO_INTERRUPTION\n",
            "cannot barge in",
        ),
        ("guard:\n  rungs: [nudge, resume]\n", "no 'fallback' rung"),
        ("vad:\n  mode: client\n  silence_duration_ms: 500\n", "client mode ignores"),
    ],
)
def test_each_risk_is_a_warning(write, extra, expected):
    text = SAFE if "vad:" not in extra else "fallback_audio: sorry.wav\n"
    res = doctor(write(text + extra), "--json")
    assert res.returncode == 1, res.stdout + res.stderr
    findings = [json.loads(line) for line in res.stdout.splitlines()]
    assert any(f["level"] == "warning" and expected in f["message"] for f in findings), findings


def test_client_mode_tradeoffs_are_a_note(write):
    res = doctor(write("fallback_audio: sorry.wav\nvad:\n  mode: client\n"))
    assert res.returncode == 0, res.stdout
    assert "NOTE" in res.stdout and "audio outside an activity is discarded" in res.stdout


@pytest.mark.parametrize(
    "text",
    ["vad: [not, a, mapping\n", "guard:\n  answer_deadline_s: -1\n", "no_such_setting: 1\n"],
)
def test_bad_file_exit_2(write, text):
    res = doctor(write(text))
    assert res.returncode == 2
    assert "settings.yaml" in res.stderr and "Traceback" not in res.stderr


def test_missing_file_exit_2(tmp_path):
    res = doctor(tmp_path / "nope.yaml")
    assert res.returncode == 2 and "nope.yaml" in res.stderr
