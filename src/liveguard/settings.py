"""The one settings model of liveguard: flags, environment variables (LIVEGUARD_*) and a YAML file.

Precedence: command-line flags > environment > settings file > defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from liveguard.guard.policy import GuardPolicy


class VadSettings(BaseModel):
    """Voice activity detection: the server's (passed through to `realtimeInputConfig`) or ours."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["server", "client"] = "server"
    start_of_speech_sensitivity: Literal["START_SENSITIVITY_HIGH", "START_SENSITIVITY_LOW"] | None = None
    end_of_speech_sensitivity: Literal["END_SENSITIVITY_HIGH", "END_SENSITIVITY_LOW"] | None = None
    prefix_padding_ms: int | None = Field(None, ge=0)
    silence_duration_ms: int | None = Field(None, ge=0)
    activity_handling: Literal["START_OF_ACTIVITY_INTERRUPTS", "NO_INTERRUPTION"] | None = None
    # local VAD (Silero) thresholds, used in every mode as evidence and in client mode for signals
    threshold: float = Field(0.5, gt=0, lt=1)
    neg_threshold: float = Field(0.35, gt=0, lt=1)
    start_windows: int = Field(2, ge=1)
    hangover_ms: int = Field(400, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIVEGUARD_", env_nested_delimiter="__", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = Field(None, description="externally reachable base URL for TwiML (wss)")
    model: str = "gemini-2.5-flash-native-audio-preview-09-2025"
    voice: str | None = "Kore"
    system_instruction: str = "You are a friendly, concise phone assistant."
    greeting: str | None = Field(
        "Greet the caller briefly.", description="prompt sent at call start so the model speaks first"
    )
    api_key: SecretStr | None = Field(None, description="GEMINI_API_KEY / GOOGLE_API_KEY also work")
    scenario: str = Field("healthy", description="embedded emulator scenario when there is no API key")
    vad: VadSettings = Field(default_factory=VadSettings)
    guard: GuardPolicy = Field(default_factory=GuardPolicy)
    log_dir: Path = Path("logs")
    redact_transcripts: bool = False
    twilio_auth_token: SecretStr | None = None
    fallback_audio: Path | None = Field(None, description="WAV spoken when every recovery rung failed")
    filler_audio: Path | None = Field(None, description="WAV played while recovering (optional)")
    ping_interval_s: float = Field(30.0, gt=0)
    ping_timeout_s: float = Field(60.0, gt=0)
    max_calls: int = Field(1000, ge=1)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: object) -> Settings:
        """Load a YAML settings file; raises ValueError with the file name on a bad file."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: cannot read settings: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: settings must be a mapping at the top level")
        return cls(**{**data, **overrides})
