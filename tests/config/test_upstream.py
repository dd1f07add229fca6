"""Which upstream the relay uses: Vertex AI, the emulator, or a clear error (never a fallback).

The real `google.auth.default` runs against files in a temporary directory (no network: the
metadata-server probe is switched off with the library's own NO_GCE_CHECK).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cli_process import run_liveguard, start_liveguard
from liveguard.caller.simulated import run_call
from liveguard.config.settings import Settings
from liveguard.config.upstream import UpstreamError, choose_upstream, vertex_selected
from liveguard.emulator.server import Emulator
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


class TokenServer:
    """A local OAuth token endpoint for service-account grants: it grants the account
    `good@…` a token and refuses any other (as Google does for a deleted or disabled key)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                claims = jwt_claims(form.get("assertion", ["..."])[0])
                outer.requests.append(claims.get("iss", ""))
                if claims.get("iss", "").startswith("good@"):
                    status, body = 200, {"access_token": "ya29.local", "expires_in": 3600}
                else:
                    status, body = 400, {"error": "invalid_grant", "error_description": "Bad"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def jwt_claims(token: str) -> dict:
    try:
        part = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}


@pytest.fixture
def token_server() -> Iterator[TokenServer]:
    server = TokenServer()
    try:
        yield server
    finally:
        server.close()


@functools.cache
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def write_adc(directory: Path, token_uri: str, account: str, project: str | None = None) -> Path:
    """A service-account key file, as Google Cloud issues them, whose token URI is local."""
    path = directory / f"key-{account}.json"
    info = {
        "type": "service_account",
        "client_email": f"{account}@proj-a.iam.gserviceaccount.com",
        "private_key_id": "k1",
        "private_key": private_key_pem(),
        "token_uri": token_uri,
    }
    if project:
        info["project_id"] = project
    path.write_text(json.dumps(info))
    return path


@pytest.fixture
def adc_file(no_adc: Path, token_server: TokenServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_adc(no_adc, token_server.url, "good")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return path


def use_vertex(monkeypatch: pytest.MonkeyPatch, project: str, location: str) -> None:
    """The SDK's environment selecting Vertex AI in `project` at `location`."""
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", project)
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", location)


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
    assert up.credentials.token == "ya29.local"  # checked: a token was obtained at start
    assert "Vertex AI (project proj-a" in up.describe()
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
    use_vertex(monkeypatch, "proj-a", "us-central1")
    s = Settings.load(None)
    assert not s.uses_emulator()
    with pytest.raises(UpstreamError) as info:
        choose_upstream(s)
    text = str(info.value)
    assert "Application Default Credentials" in text and "gcloud auth" in text
    assert "not fall back to the emulator" in text
    with pytest.raises(UpstreamError):  # an application's own client: the same rule
        make_client(s)


def test_vertex_with_credentials_that_cannot_get_a_token_stops(
    no_adc: Path, token_server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    adc = write_adc(no_adc, token_server.url, "revoked")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    use_vertex(monkeypatch, "proj-a", "us-central1")
    with pytest.raises(UpstreamError, match=r"cannot get an access token.*invalid_grant"):
        choose_upstream(Settings.load(None))
    assert len(token_server.requests) == 1
    unchecked = Settings.load(None, vertex={"check_credentials": False})
    assert choose_upstream(unchecked).kind == "vertex"  # the check is what stopped it
    assert len(token_server.requests) == 1


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
    use_vertex(monkeypatch, "proj-a", "us-central1")
    relay = Relay(Settings.load(None, port=0, log_dir=str(no_adc / "logs")))
    with pytest.raises(UpstreamError):
        await relay.start()
    assert relay.emulator is None
    await relay.stop()


async def test_relay_on_vertex_builds_a_vertex_client(
    adc_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_vertex(monkeypatch, "proj-a", "us-east5")
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
    res = run_liveguard("serve", "--port", "0", env=env)
    assert res.returncode == 2, res.stderr
    assert "Application Default Credentials" in res.stderr
    assert "emulator" not in res.stdout  # no ready line: it never served


def test_project_from_the_credentials_when_none_is_set(
    no_adc: Path, token_server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = write_adc(no_adc, token_server.url, "good", project="proj-from-key")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    up = choose_upstream(Settings.load(None, vertex={"enabled": True, "location": "us-east5"}))
    assert (up.kind, up.project, up.location) == ("vertex", "proj-from-key", "us-east5")


def test_serve_without_any_credentials_says_it_embeds_the_emulator(no_adc: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEGUARD_")}
    for name in SDK_VARS:
        env.pop(name, None)
    env.update(CLOUDSDK_CONFIG=str(no_adc / "gcloud"), LIVEGUARD_LOG_DIR=str(no_adc / "logs"))
    proc = start_liveguard("serve", "--port", "0", env=env)
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["emulator"] is True
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "Vertex AI not selected" in err and "embedded Gemini Live emulator" in err


async def test_vertex_configured_relay_serves_a_call_through_the_emulators_vertex_path(
    adc_file: Path, token_server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's own Vertex client (ADC bearer token, project and location in the model path),
    driven by a simulated phone caller through the relay, against the emulator's Vertex route."""
    use_vertex(monkeypatch, "proj-a", "us-central1")
    async with Emulator(scenario="healthy") as emu:
        settings = Settings.load(
            None,
            port=0,
            model="gemini-live-2.5-flash-native-audio",
            upstream_base_url=emu.base_url,
            upstream_ca_file=emu.ca_file,
            log_dir=str(adc_file.parent / "logs"),
        )
        async with Relay(settings) as relay:
            assert relay.emulator is None and relay.upstream.vertexai
            result = await run_call(relay.twilio_url, "quick")
        stats = await emu.wait_closed_sessions()
    assert result.summary["answered"] == 1
    assert stats and all(s.vertex and s.setup_complete for s in stats)
    assert stats[0].model == (
        "projects/proj-a/locations/us-central1/publishers/google/models/"
        "gemini-live-2.5-flash-native-audio"
    )
    assert token_server.requests  # the bearer token came from the credentials
