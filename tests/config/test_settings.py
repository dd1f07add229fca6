"""Settings precedence (flags > env > file > defaults), the API key variables, clear errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from liveguard.config.settings import Settings
from liveguard.relay import cli as serve_cli


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "LIVEGUARD_API_KEY",
        "LIVEGUARD_PORT",
        "LIVEGUARD_MODEL",
        "LIVEGUARD_VAD__MODE",
        "LIVEGUARD_GUARD__ANSWER_DEADLINE_S",
    ):
        monkeypatch.delenv(name, raising=False)


def test_flags_beat_env_beat_file_beat_defaults(tmp_path: Path, monkeypatch) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "port: 1111\nmodel: from-file\nvad:\n  threshold: 0.6\nguard:\n  nudge_deadline_s: 2\n"
    )
    monkeypatch.setenv("LIVEGUARD_PORT", "2222")
    monkeypatch.setenv("LIVEGUARD_VAD__MODE", "client")
    s = Settings.load(f, port=None, host="0.0.0.0", guard={"answer_deadline_s": 4.5})
    assert s.port == 2222  # env over file (the None flag was not given)
    assert s.model == "from-file"  # file over default
    assert s.host == "0.0.0.0"  # flag
    assert s.vad.mode == "client" and s.vad.threshold == 0.6  # nested sources merge
    assert s.guard.answer_deadline_s == 4.5 and s.guard.nudge_deadline_s == 2
    assert Settings.load(f, port=3333).port == 3333  # flag over env
    assert Settings.load(None).port == 2222 and Settings.load(None).model == Settings().model


def test_api_key_from_google_variables_and_never_shown(monkeypatch) -> None:
    assert Settings.load(None).uses_emulator()
    monkeypatch.setenv("GEMINI_API_KEY", "gem-secret")
    s = Settings.load(None)
    assert not s.uses_emulator() and s.api_key.get_secret_value() == "gem-secret"
    monkeypatch.setenv("GOOGLE_API_KEY", "goo-secret")  # the SDK prefers GOOGLE_API_KEY
    s = Settings.load(None)
    assert s.api_key.get_secret_value() == "goo-secret"
    assert "goo-secret" not in repr(s) and "goo-secret" not in str(s.model_dump())
    monkeypatch.setenv("LIVEGUARD_API_KEY", "lg-secret")
    assert Settings.load(None).api_key.get_secret_value() == "lg-secret"


def test_bad_settings_name_the_problem(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("bogus_setting: 1\n")
    with pytest.raises(ValueError, match="bogus_setting"):
        Settings.load(f)
    f.write_text("- a list\n")
    with pytest.raises(ValueError, match="mapping at the top level"):
        Settings.load(f)
    f.write_text("port: [unclosed\n")
    with pytest.raises(ValueError, match="cannot read settings"):
        Settings.load(f)
    with pytest.raises(ValueError, match="cannot read settings"):
        Settings.load(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="max_calls"):
        Settings.load(None, max_calls=0)


def test_serve_flags_and_set_overrides(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    serve_cli.add_arguments(parser)
    args = parser.parse_args(
        [
            "--port",
            "0",
            "--vad-mode",
            "client",
            "--set",
            "guard.answer_deadline_s=2.5",
            "--set",
            "vad.prefix_padding_ms=200",
            "--set",
            "greeting=",
            "--log-dir",
            str(tmp_path),
        ]
    )
    s = Settings.load(args.config, **serve_cli._overrides(args))
    assert s.port == 0 and s.vad.mode == "client" and s.vad.prefix_padding_ms == 200
    assert s.guard.answer_deadline_s == 2.5 and s.greeting == "" and s.log_dir == tmp_path
    bad = parser.parse_args(["--set", "nonsense"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        serve_cli._overrides(bad)
