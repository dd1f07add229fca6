"""Which upstream the relay uses: Vertex AI, the emulator, or a clear error (never a fallback).

The real `google.auth.default` runs against files in a temporary directory (no network: the
metadata-server probe is switched off with the library's own NO_GCE_CHECK).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from liveguard.config.settings import Settings
from liveguard.config.upstream import UpstreamError, choose_upstream, vertex_selected
from liveguard.relay.server import Relay
from liveguard.session.config import make_client

SDK_VARS = (
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "LIVEGUARD_API_KEY",
)


@pytest.fixture
def no_adc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An environment with no credentials of any kind and no metadata server probe."""
    for name in SDK_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud ADC file
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    return tmp_path


@pytest.fixture
def adc_file(no_adc: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Application Default Credentials from a user-credentials file, as `gcloud` writes it."""
    path = no_adc / "adc.json"
    path.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "test-client.apps.example",
                "client_secret": "test-secret",
                "refresh_token": "test-refresh-token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return path


def test_no_credentials_of_either_kind_is_the_emulator(no_adc: Path) -> None:
    s = Settings.load(None)
    up = choose_upstream(s)
    assert up.kind == "emulator" and not up.vertexai
    assert "no Gemini API key" in up.why and "GOOGLE_GENAI_USE_VERTEXAI" in up.why
    assert s.uses_emulator()


def test_api_key_is_the_gemini_api(no_adc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "k-123")
    up = choose_upstream(Settings.load(None))
    assert up.kind == "gemini" and not up.vertexai


@pytest.mark.parametrize("value", ["true", "True", "1"])
def test_sdk_variables_select_vertex_with_adc(
    adc_file: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", value)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-a")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    monkeypatch.setenv("GEMINI_API_KEY", "also-a-key")  # Vertex was asked for: it wins
    s = Settings.load(None)
    assert not s.uses_emulator()
    up = choose_upstream(s)
    assert (up.kind, up.project, up.location) == ("vertex", "proj-a", "us-central1")
    assert up.credentials is not None and "Vertex AI (project proj-a" in up.describe()
    client = make_client(s, upstream=up)
    api = client._api_client
    assert api.vertexai and api.project == "proj-a" and api.location == "us-central1"
    assert api._credentials is up.credentials and not api.api_key


def test_settings_select_vertex_over_the_environment(
    adc_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "europe-west4")
    s = Settings.load(None, vertex={"project": "proj-b"})
    assert vertex_selected(s, os.environ)
    up = choose_upstream(s)
    assert (up.project, up.location) == ("proj-b", "europe-west4")
    off = Settings.load(None, vertex={"enabled": False, "project": "proj-b"})
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    assert choose_upstream(off).kind == "emulator"  # the settings' explicit choice wins


def test_vertex_without_credentials_stops_with_a_clear_error(
    no_adc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-a")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    s = Settings.load(None)
    assert not s.uses_emulator()
    with pytest.raises(UpstreamError) as info:
        choose_upstream(s)
    text = str(info.value)
    assert "Application Default Credentials" in text and "gcloud auth" in text
    assert "not fall back to the emulator" in text
    with pytest.raises(UpstreamError):  # an application's own client: the same rule
        make_client(s)


def test_vertex_without_a_location_or_project_says_which(
    adc_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "1")
    with pytest.raises(UpstreamError, match="no project"):
        choose_upstream(Settings.load(None))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-a")
    with pytest.raises(UpstreamError, match=r"GOOGLE_CLOUD_LOCATION.*us-central1"):
        choose_upstream(Settings.load(None))


async def test_relay_refuses_to_start_on_vertex_without_credentials(
    no_adc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-a")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    relay = Relay(Settings.load(None, port=0, log_dir=str(no_adc / "logs")))
    with pytest.raises(UpstreamError):
        await relay.start()
    assert relay.emulator is None
    await relay.stop()


async def test_relay_on_vertex_builds_a_vertex_client(
    adc_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-a")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-east5")
    async with Relay(Settings.load(None, port=0, log_dir=str(adc_file.parent / "logs"))) as relay:
        assert relay.emulator is None and relay.upstream.kind == "vertex"
        api = relay.ctx.client._api_client
        assert api.vertexai and (api.project, api.location) == ("proj-a", "us-east5")


def test_serve_on_vertex_without_credentials_exits_2(no_adc: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEGUARD_")}
    env.update(
        GOOGLE_GENAI_USE_VERTEXAI="true",
        GOOGLE_CLOUD_PROJECT="p",
        GOOGLE_CLOUD_LOCATION="us-central1",
    )
    env["LIVEGUARD_LOG_DIR"] = str(no_adc / "logs")
    res = subprocess.run(
        [sys.executable, "-m", "liveguard", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2, res.stderr
    assert "Application Default Credentials" in res.stderr
    assert "emulator" not in res.stdout  # no ready line: it never served
