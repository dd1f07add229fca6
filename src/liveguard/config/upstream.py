"""Which upstream the relay talks to: the Gemini API, Vertex AI, another endpoint or the emulator.

Why a decision of its own: the fallback to the embedded emulator is convenient on a fresh machine
and dangerous in production, where a deployment that meant Vertex AI but lost its credentials
would silently serve an emulated model to real callers. So the rule is explicit and tested:

- `upstream_base_url` set: that endpoint (Gemini-API or Vertex-style client, as selected below);
- Vertex selected (`GOOGLE_GENAI_USE_VERTEXAI` / `GOOGLE_GENAI_USE_ENTERPRISE` true, as in the
  SDK, or `vertex.enabled`, or `vertex.project` in the settings): Vertex AI with Application
  Default Credentials, or a clear `UpstreamError` when they, the project or the location are
  missing, never the emulator;
- an API key: the Gemini API;
- nothing: the embedded emulator (and the relay says so).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from liveguard.config.models import VERTEX_LIVE_LOCATIONS

CLOUD_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

CredentialsLoader = Callable[[], tuple[Any, str | None]]


class UpstreamError(ValueError):
    """The selected upstream cannot be used (e.g. Vertex AI without credentials)."""


@dataclass(frozen=True, slots=True)
class Upstream:
    """The chosen upstream and what the client needs for it."""

    kind: Literal["gemini", "vertex", "endpoint", "emulator"]
    vertexai: bool = False
    project: str | None = None
    location: str | None = None
    credentials: Any = None
    why: str = ""  # one line for the start-up message

    def describe(self) -> str:
        if self.kind == "vertex":
            return f"Vertex AI (project {self.project}, location {self.location})"
        return self.why


def _truthy(value: str | None) -> bool | None:
    """The SDK's reading of GOOGLE_GENAI_USE_VERTEXAI: 'true' or '1' (any case) is true."""
    return None if value is None else value.strip().lower() in ("true", "1")


def vertex_selected(settings: Any, env: Mapping[str, str]) -> bool:
    """Vertex is chosen by the settings first, else by the SDK's own environment variables."""
    vertex = settings.vertex
    if vertex.enabled is not None:
        return bool(vertex.enabled)
    if vertex.project:
        return True
    enterprise = _truthy(env.get("GOOGLE_GENAI_USE_ENTERPRISE"))
    if enterprise is not None:  # the SDK lets this one win over GOOGLE_GENAI_USE_VERTEXAI
        return enterprise
    return bool(_truthy(env.get("GOOGLE_GENAI_USE_VERTEXAI")))


def default_credentials() -> tuple[Any, str | None]:
    """Application Default Credentials (`google.auth.default`), the SDK's own source on Vertex."""
    import google.auth

    return google.auth.default(scopes=[CLOUD_SCOPE])


def refresh_credentials(credentials: Any, timeout_s: float = 10.0) -> None:
    """Get an access token now (blocking; run it off the event loop), bounded by `timeout_s`."""
    from google.auth.transport.requests import Request

    class _Bounded(Request):  # google-auth's token requests would otherwise wait up to 120 s
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            kwargs["timeout"] = timeout_s
            return super().__call__(*args, **kwargs)

    credentials.refresh(_Bounded())


def choose_upstream(
    settings: Any,
    env: Mapping[str, str] | None = None,
    load_credentials: CredentialsLoader = default_credentials,
    refresh: Callable[[Any], None] = refresh_credentials,
) -> Upstream:
    """Decide the upstream from settings and environment; raises UpstreamError, never guesses.

    `load_credentials` is `google.auth.default` unless a caller (an embedding app, a test with
    a credentials file) passes its own. With `vertex.check_credentials` (the default) the
    credentials must also yield an access token now (`refresh`; blocking, one token request), so
    a broken credential stops the start instead of the first call.
    """
    env = os.environ if env is None else env
    has_key = settings.api_key is not None and bool(settings.api_key.get_secret_value())
    if not vertex_selected(settings, env):
        if settings.upstream_base_url:
            return Upstream("endpoint", why=f"the Live endpoint at {settings.upstream_base_url}")
        if has_key:
            return Upstream("gemini", why="Google's Gemini Live API")
        return Upstream(
            "emulator",
            why="no Gemini API key (GEMINI_API_KEY / GOOGLE_API_KEY) and Vertex AI not selected "
            "(GOOGLE_GENAI_USE_VERTEXAI): the embedded Gemini Live emulator",
        )
    return _vertex(settings, env, load_credentials, refresh)


def _vertex(
    settings: Any,
    env: Mapping[str, str],
    load_credentials: CredentialsLoader,
    refresh: Callable[[Any], None],
) -> Upstream:
    """Vertex AI (or a Vertex-style endpoint): credentials, project and location, or an error."""
    project = settings.vertex.project or env.get("GOOGLE_CLOUD_PROJECT") or None
    location = settings.vertex.location or env.get("GOOGLE_CLOUD_LOCATION") or None
    try:
        credentials, adc_project = load_credentials()
    except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and friends
        raise UpstreamError(
            "Vertex AI is selected (GOOGLE_GENAI_USE_VERTEXAI or the vertex settings) but there "
            f"are no usable Application Default Credentials: {exc}. Run `gcloud auth "
            "application-default login`, set GOOGLE_APPLICATION_CREDENTIALS to a service account "
            "key file, or unset GOOGLE_GENAI_USE_VERTEXAI to use the Gemini API. liveguard does "
            "not fall back to the emulator when Vertex AI was asked for."
        ) from None
    project = project or adc_project
    if not project:
        raise UpstreamError(
            "Vertex AI is selected but no project is known: set GOOGLE_CLOUD_PROJECT or "
            "vertex.project (the credentials name none)."
        )
    if not location:
        raise UpstreamError(
            "Vertex AI is selected but no location is set: set GOOGLE_CLOUD_LOCATION or "
            "vertex.location to a region that serves Live models "
            f"({', '.join(VERTEX_LIVE_LOCATIONS)}); 'global' is rejected for Live."
        )
    if settings.vertex.check_credentials:
        try:
            refresh(credentials)
        except Exception as exc:  # RefreshError, TransportError: no token, whatever the cause
            raise UpstreamError(
                "Vertex AI is selected and Application Default Credentials were found, but they "
                f"cannot get an access token: {type(exc).__name__}: {str(exc)[:300]}. Renew them "
                "(`gcloud auth application-default login`) or fix GOOGLE_APPLICATION_CREDENTIALS."
            ) from None
    if settings.upstream_base_url:  # e.g. the emulator serving the Vertex path
        return Upstream(
            "endpoint",
            vertexai=True,
            project=project,
            location=location,
            credentials=credentials,
            why=f"the Vertex-style Live endpoint at {settings.upstream_base_url}",
        )
    return Upstream(
        "vertex", vertexai=True, project=project, location=location, credentials=credentials
    )
