"""`liveguard doctor` against the chosen model: setup fields, retired names, platform, tools."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli_process import run_liveguard
from liveguard.config.doctor import Finding, check
from liveguard.config.settings import Settings

TOOL = "liveguard.tools.examples:lookup_order"


@pytest.fixture(autouse=True)
def gemini_api(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GENAI_USE_ENTERPRISE",
        "GOOGLE_CLOUD_LOCATION",
    ):
        monkeypatch.delenv(name, raising=False)


def findings(**fields: object) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in check(Settings(**fields)):
        out.setdefault(f.setting, []).append(f)
    return out


def levels(found: dict[str, list[Finding]], setting: str) -> list[str]:
    return [f.level for f in found.get(setting, [])]


def test_the_38_setup_fields_it_rejects_are_warnings() -> None:
    found = findings(
        model="gemini-3.8-live", thinking_level="LOW", proactive_audio=False, affective_dialog=True
    )
    assert levels(found, "thinking_level") == ["warning"]
    assert "does not take a thinking config" in found["thinking_level"][0].message
    assert levels(found, "proactive_audio") == ["warning"]
    assert "always on" in found["proactive_audio"][0].message
    assert levels(found, "affective_dialog") == ["warning"]
    assert "model" not in found  # a served, current model


def test_the_same_fields_are_fine_where_the_model_takes_them() -> None:
    found = findings(
        model="gemini-2.5-flash-native-audio-preview-12-2025",
        thinking_level="LOW",
        proactive_audio=False,
        affective_dialog=True,
    )
    for setting in ("thinking_level", "proactive_audio", "affective_dialog", "model"):
        assert setting not in found, found.get(setting)
    found = findings(model="gemini-3.8-live", proactive_audio=True)  # on is what 3.8 does anyway
    assert "proactive_audio" not in found


def test_31_proactivity_explains_the_missing_setup_complete() -> None:
    found = findings(model="gemini-3.1-flash-live-preview", proactive_audio=True)
    assert levels(found, "proactive_audio") == ["warning"]
    assert "setupComplete" in found["proactive_audio"][0].message


def test_retired_model_is_a_warning_naming_the_date_and_a_replacement() -> None:
    found = findings(model="gemini-2.5-flash-native-audio-preview-09-2025")
    assert levels(found, "model") == ["warning"]
    msg = found["model"][0].message
    assert "2026-03-19" in msg and "gemini-3.8-live" in msg
    unknown = findings(model="my-custom-model")
    assert levels(unknown, "model") == ["note"]


def test_platform_mismatch_and_vertex_location(monkeypatch: pytest.MonkeyPatch) -> None:
    found = findings(model="gemini-live-2.5-flash-native-audio")
    assert levels(found, "model") == ["warning"] and "Gemini API" in found["model"][0].message
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "global")
    found = findings(model="gemini-3.1-flash-live-preview")
    assert levels(found, "model") == ["warning"] and "Vertex AI" in found["model"][0].message
    assert levels(found, "vertex.location") == ["warning"]
    assert "us-central1" in found["vertex.location"][0].message
    found = findings(model="gemini-3.8-live", vertex={"location": "us-central1"})
    assert "model" not in found and "vertex.location" not in found


def test_non_blocking_tool_on_a_synchronous_model() -> None:
    tools = [{"function": TOOL, "behavior": "NON_BLOCKING", "scheduling": "WHEN_IDLE"}]
    found = findings(model="gemini-3.1-flash-live-preview", tools=tools)
    key = "tools[0] (lookup_order)"
    assert levels(found, key) == ["warning"]
    assert "synchronously" in found[key][0].message
    assert key not in findings(model="gemini-3.8-live", tools=tools)


def test_blocking_tool_on_extended_thinking_and_scheduling_without_effect() -> None:
    key = "tools[0] (lookup_order)"
    found = findings(
        model="gemini-3.8-live-extended-thinking",
        tools=[{"function": TOOL, "behavior": "BLOCKING", "scheduling": "SILENT", "timeout_s": 1}],
    )
    assert sorted(levels(found, key)) == ["note", "warning"]
    assert any("asynchronous only" in f.message for f in found[key])
    assert any("NON_BLOCKING results only" in f.message for f in found[key])


def test_default_behavior_follows_the_model() -> None:
    key = "tools[0] (lookup_order)"
    tools = [{"function": TOOL, "timeout_s": 20}]
    # 2.5 runs calls BLOCKING: 20 s of tool time is silence for the caller without a filler
    found = findings(model="gemini-2.5-flash-native-audio-preview-12-2025", tools=tools)
    assert levels(found, key) == ["note"] and "filler_audio" in found[key][0].message
    assert key not in findings(model="gemini-3.8-live", tools=tools)  # NON_BLOCKING by default


def test_webhook_over_plain_http_and_without_secret() -> None:
    hook = {
        "webhook": "http://orders.example.com/lookup",
        "name": "orders",
        "description": "look up an order",
        "parameters": {"type": "object", "properties": {"n": {"type": "string"}}},
    }
    found = findings(model="gemini-3.8-live", tools=[hook])
    assert sorted(levels(found, "tools[0] (orders)")) == ["note", "warning"]
    local = dict(hook, webhook="http://127.0.0.1:9000/x", secret="s3cret")
    assert "tools[0] (orders)" not in findings(model="gemini-3.8-live", tools=[local])


def test_doctor_cli_explains_a_38_file_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "sorry.wav").write_bytes(b"RIFF")
    path = tmp_path / "s.yaml"
    path.write_text(
        "model: gemini-3.8-live\nfallback_audio: sorry.wav\nthinking_level: HIGH\n"
        f"tools:\n  - function: {TOOL}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEGUARD_", "GOOGLE_GENAI"))}
    res = run_liveguard("doctor", str(path), env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "WARNING  thinking_level:" in res.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("tools:\n  - function: no_such_module_xyz:run\n")
    res = run_liveguard("doctor", str(bad), env=env)
    assert res.returncode == 2
    assert "tools[0] (no_such_module_xyz:run)" in res.stderr and "cannot import" in res.stderr
