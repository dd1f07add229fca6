"""Configuration: `Settings` (environment, YAML file, flags) and `liveguard doctor`, which explains
risky choices in a settings file."""

from liveguard.config.settings import Settings, VadSettings

__all__ = ["Settings", "VadSettings"]
