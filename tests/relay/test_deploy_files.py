"""The deploy files: the Kubernetes manifests validate against the Kubernetes schema
(`kubernetes-validate`, strict: unknown fields are errors), their probes and drain fit the relay,
and the image and the compose file run the relay as intended."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from liveguard.config.settings import Settings
from liveguard.relay.app import build_app
from liveguard.relay.context import RelayContext

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30"  # the oldest release the manifests promise to work on


def _docs() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        out += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return out


@pytest.mark.parametrize(("name", "doc"), _docs(), ids=lambda v: v if isinstance(v, str) else "")
def test_manifest_validates_against_the_kubernetes_schema(name: str, doc: dict) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_wrong_field() -> None:
    doc = yaml.safe_load((K8S / "deployment.yaml").read_text())
    doc["spec"]["template"]["spec"]["terminationGracePeriod"] = 10  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _relay_deployment() -> dict:
    (doc,) = [d for n, d in _docs() if n == "deployment.yaml"]
    return doc


def test_probes_and_drain_fit_the_relay() -> None:
    spec = _relay_deployment()["spec"]["template"]["spec"]
    (relay,) = spec["containers"]
    env = {e["name"]: e.get("value") for e in relay["env"]}
    drain_s = float(env["LIVEGUARD_DRAIN_TIMEOUT_S"])
    assert drain_s == Settings.model_fields["drain_timeout_s"].default
    # the grace covers the drain, the goodbye and the close, and the preStop wait before it
    assert spec["terminationGracePeriodSeconds"] >= drain_s + 10
    assert relay["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert relay["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert relay["livenessProbe"]["httpGet"]["path"] == "/livez"
    # the probe paths are the relay's own routes, open without the token
    app = build_app(RelayContext(Settings.load(None, auth_token="t"), client=None))
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert {"/readyz", "/livez", "/drain"} <= paths
    assert spec["securityContext"]["runAsNonRoot"] is True
    # both tokens come from a Secret: a public address needs them (the bind rule)
    secret_env = {e["name"] for e in relay["env"] if "valueFrom" in e}
    assert {"LIVEGUARD_AUTH_TOKEN", "LIVEGUARD_TWILIO_AUTH_TOKEN"} <= secret_env


def test_dockerfile_runs_the_relay_as_a_non_root_user() -> None:
    lines = [ln.strip() for ln in (ROOT / "Dockerfile").read_text().splitlines()]
    final = lines[max(i for i, ln in enumerate(lines) if ln.startswith("FROM ")) :]
    users = [ln.split()[1] for ln in final if ln.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    entry = next(ln for ln in final if ln.startswith("ENTRYPOINT"))
    assert '"liveguard", "serve"' in entry and "0.0.0.0" in entry
    assert any(ln.startswith("STOPSIGNAL SIGTERM") for ln in final)


def test_compose_runs_two_nodes_and_redis() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "relay-a", "relay-b"} <= set(services)
    for name in ("relay-a", "relay-b"):
        env = services[name]["environment"]
        assert env["LIVEGUARD_REDIS_URL"].startswith("redis://redis:")
        assert "LIVEGUARD_AUTH_TOKEN" in env and "LIVEGUARD_TWILIO_AUTH_TOKEN" in env
        assert services[name]["stop_signal"] == "SIGTERM"
