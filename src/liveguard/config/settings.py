"""The one settings model of liveguard: flags, environment variables (LIVEGUARD_*) and a YAML file.

Precedence, highest first: command-line flags (passed as keyword overrides) > environment
(`LIVEGUARD_*`, nested with `__`, plus `GEMINI_API_KEY` / `GOOGLE_API_KEY` for the key) > settings
file (YAML) > defaults. Load with `Settings.load(config_file, **overrides)`; docs/settings.md lists
every field.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from liveguard.config.upstream import vertex_selected
from liveguard.guard.policy import GuardPolicy
from liveguard.tools.spec import ToolEntry, ToolLimits, check_tool_entries

# The file `Settings.load` is reading; a context variable so concurrent loads do not interfere.
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("liveguard_config_file", default=None)


class VadSettings(BaseModel):
    """Voice activity detection: the server's (passed through to `realtimeInputConfig`) or ours."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["server", "client"] = "server"
    start_of_speech_sensitivity: (
        Literal["START_SENSITIVITY_HIGH", "START_SENSITIVITY_LOW"] | None
    ) = None
    end_of_speech_sensitivity: Literal["END_SENSITIVITY_HIGH", "END_SENSITIVITY_LOW"] | None = None
    prefix_padding_ms: int | None = Field(None, ge=0)
    silence_duration_ms: int | None = Field(None, ge=0)
    activity_handling: Literal["START_OF_ACTIVITY_INTERRUPTS", "NO_INTERRUPTION"] | None = None
    # local VAD (Silero) thresholds, used in every mode as evidence and in client mode for signals
    threshold: float = Field(0.5, gt=0, lt=1)
    neg_threshold: float = Field(0.35, gt=0, lt=1)
    start_windows: int = Field(2, ge=1)
    hangover_ms: int = Field(400, ge=0)


class VertexSettings(BaseModel):
    """Vertex AI: the SDK's environment variables work too (docs/settings.md, "Vertex AI")."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(
        None, description="use Vertex AI; None = as GOOGLE_GENAI_USE_VERTEXAI says (or a project)"
    )
    project: str | None = Field(None, description="Google Cloud project; else GOOGLE_CLOUD_PROJECT")
    location: str | None = Field(None, description="region; else GOOGLE_CLOUD_LOCATION")
    check_credentials: bool = Field(
        True, description="get an access token at start-up: broken credentials stop the start"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LIVEGUARD_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = Field(
        None, description="externally reachable base URL for TwiML (wss)"
    )
    model: str = "gemini-3.8-live"
    voice: str | None = "Kore"
    system_instruction: str = "You are a friendly, concise phone assistant."
    greeting: str | None = Field(
        "Greet the caller briefly.",
        description="prompt sent at call start so the model speaks first",
    )
    api_key: SecretStr | None = Field(None, description="GEMINI_API_KEY / GOOGLE_API_KEY also work")
    scenario: str = Field(
        "healthy", description="embedded emulator scenario when there is no API key"
    )
    vertex: VertexSettings = Field(default_factory=VertexSettings)
    thinking_level: Literal["MINIMAL", "LOW", "MEDIUM", "HIGH"] | None = Field(
        None, description="thinking config in the setup (3.1); 3.8 rejects any"
    )
    proactive_audio: bool | None = Field(
        None, description="proactivity.proactive_audio in the setup; None = not sent"
    )
    affective_dialog: bool | None = Field(
        None, description="enable_affective_dialog in the setup; None = not sent"
    )
    tools: list[ToolEntry] = Field(
        default_factory=list, description="functions and webhooks the relay runs (docs/tools.md)"
    )
    tool_limits: ToolLimits = Field(default_factory=ToolLimits)
    vad: VadSettings = Field(default_factory=VadSettings)
    guard: GuardPolicy = Field(default_factory=GuardPolicy)
    log_dir: Path = Path("logs")
    redact_transcripts: bool = False
    twilio_auth_token: SecretStr | None = Field(
        None, description="validate X-Twilio-Signature on /twilio/* with this Twilio auth token"
    )
    telnyx_public_key: str | None = Field(
        None, description="check telnyx-signature-ed25519 on /telnyx/texml with this public key"
    )
    plivo_auth_token: SecretStr | None = Field(
        None, description="check X-Plivo-Signature-V2 on /plivo/answer with this auth token"
    )
    vonage_signature_secret: SecretStr | None = Field(
        None, description="check the signed-webhook JWT on /vonage/answer with this secret"
    )
    auth_token: SecretStr | None = Field(
        None, description="bearer token for the page, browser stream, /metrics and /sessions"
    )
    fallback_audio: Path | None = Field(
        None, description="WAV spoken when every recovery rung failed"
    )
    filler_audio: Path | None = Field(None, description="WAV played while recovering (optional)")
    upstream_base_url: str | None = Field(
        None, description="Live API base URL (e.g. an emulator in another process); None = Google"
    )
    upstream_ca_file: Path | None = Field(
        None, description="CA bundle to trust for upstream_base_url (the emulator's ca_file)"
    )
    dtmf_text: str | None = Field(
        "The caller pressed {digit} on the keypad.",
        description="text sent to the model for a keypad digit ({digit}); None = ignore DTMF",
    )
    ping_interval_s: float = Field(30.0, gt=0)
    ping_timeout_s: float = Field(60.0, gt=0)
    max_calls: int = Field(1000, ge=1)
    # relay limits: every caller-side buffer is bounded
    max_message_bytes: int = Field(
        65536, ge=1024, le=4 * 1024 * 1024, description="largest caller WebSocket message accepted"
    )
    max_caller_errors: int = Field(
        50, ge=1, description="bad caller messages tolerated before the call is ended"
    )
    outbound_queue_s: float = Field(
        60.0, gt=0, description="model audio buffered towards one caller, seconds, before dropping"
    )
    shutdown_grace_s: float = Field(5.0, ge=0, description="time active calls get on shutdown")
    # ---- production: workers, drain, security, scale-out (docs/relay.md "Production")
    workers: int | None = Field(
        None, ge=1, le=256, description="worker processes on one port (None = usable cores)"
    )
    drain_timeout_s: float = Field(
        3600.0, ge=0, description="on SIGTERM / POST /drain, how long calls in progress may go on"
    )
    insecure: bool = Field(
        False, description="allow a non-loopback address without auth_token / twilio_auth_token"
    )
    max_calls_per_source: int = Field(
        20, ge=1, description="concurrent calls one source address may hold"
    )
    new_calls_per_source_per_min: int = Field(
        60, ge=1, description="new calls one source address may start per minute"
    )
    redis_url: SecretStr | None = Field(
        None, description="redis://... shared session index, incidents, resumption handles"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init) > LIVEGUARD_* env > GEMINI/GOOGLE key env > YAML file > defaults."""
        return (
            init_settings,
            env_settings,
            _GoogleKeyEnvSource(settings_cls),
            _YamlFileSource(settings_cls),
        )

    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Build settings from a YAML file (optional), the environment and flag overrides.

        `None` overrides are ignored (an argparse flag that was not given). Nested fields can be
        overridden with dicts (`vad={"mode": "client"}`); they merge with the other sources.
        Raises ValueError naming the file on an unreadable or malformed file.
        """
        token = _CONFIG_FILE.set(Path(config_file) if config_file is not None else None)
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            where = (
                f"{config_file}, the environment or flags"
                if config_file
                else "environment or flags"
            )
            raise ValueError(f"invalid settings ({where}): {_describe(exc)}") from None
        finally:
            _CONFIG_FILE.reset(token)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> Settings:
        """Same as `load(path, **overrides)` (kept for callers that always have a file)."""
        return cls.load(path, **overrides)

    @field_validator("tools", mode="before")
    @classmethod
    def _tools_named(cls, value: Any) -> Any:
        """Each bad entry fails with its index and name (pydantic's own path is less clear)."""
        return check_tool_entries(value)

    def uses_emulator(self) -> bool:
        """True when the relay embeds the emulator: no API key and Vertex AI not selected.

        The full decision (Vertex credentials, another endpoint) is
        `liveguard.config.upstream.choose_upstream`.
        """
        no_key = self.api_key is None or not self.api_key.get_secret_value()
        return no_key and not vertex_selected(self, os.environ)


def _describe(exc: ValidationError) -> str:
    """Each error as `setting: message`, without the input values pydantic would print: those
    can be secrets (keys, webhook signing secrets and headers)."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        lines.append(f"\n  {where}: {err['msg'].removeprefix('Value error, ')}")
    return f"{len(lines)} error(s):" + "".join(lines)


class _GoogleKeyEnvSource(PydanticBaseSettingsSource):
    """`GOOGLE_API_KEY` or `GEMINI_API_KEY` (the SDK's names; GOOGLE wins, as in the SDK)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY"):
            value = os.environ.get(name)
            if value:
                return {"api_key": value}
        return {}


class _YamlFileSource(PydanticBaseSettingsSource):
    """The YAML settings file given to `Settings.load`, if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _CONFIG_FILE.get()
        if path is None:
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: cannot read settings: {exc}") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: settings must be a mapping at the top level")
        return data
