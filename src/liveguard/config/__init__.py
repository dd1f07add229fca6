"""Configuration: `Settings` (environment, YAML file, flags) and `liveguard doctor`, which explains
risky choices in a settings file."""

from pathlib import Path

from liveguard.config.settings import Settings, VadSettings

#: the demo's settings file: the example order-lookup tool on, the emulator's tool-call scenario
DEMO_SETTINGS = Path(__file__).with_name("demo.yaml")

__all__ = ["DEMO_SETTINGS", "Settings", "VadSettings"]
