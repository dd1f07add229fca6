"""What liveguard knows about each Live model: platform, status and the setup fields it accepts.

Why a table of its own: the doctor and the upstream choice both need the same facts, and they
change with every model release (docs/research: live-models-2026.md, with its sources). Names not
in the table are judged by their family prefix, so a new dated preview of a family still gets its
family's checks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """One Live model (or family) as a relay sees it."""

    family: str  # "2.5" | "3.1" | "3.8" | "3.8-thinking"
    platforms: tuple[str, ...]  # "gemini" and/or "vertex"
    retired: str | None = None  # ISO date the service stopped serving it
    thinking_config: bool = True  # thinking config / thinkingLevel accepted in the setup
    proactivity: bool = True  # a `proactivity` config accepted at all
    proactive_audio_off: bool = True  # `proactive_audio: false` accepted
    affective_dialog: bool = True  # `enableAffectiveDialog` accepted
    blocking_tools: bool = True  # BLOCKING (synchronous) function calls available
    non_blocking_tools: bool = True  # NON_BLOCKING (asynchronous) function calls available
    default_behavior: str = "BLOCKING"  # what a declaration without `behavior` gets


_25 = ModelFacts("2.5", ("gemini",))
_31 = ModelFacts(
    "3.1",
    ("gemini",),
    proactivity=False,
    affective_dialog=False,
    non_blocking_tools=False,
)
_38 = ModelFacts(
    "3.8",
    ("gemini", "vertex"),
    thinking_config=False,
    proactive_audio_off=False,
    affective_dialog=False,
    default_behavior="NON_BLOCKING",
)
_38_THINKING = ModelFacts(
    "3.8-thinking",
    ("gemini",),
    thinking_config=False,
    proactive_audio_off=False,
    affective_dialog=False,
    blocking_tools=False,
    default_behavior="NON_BLOCKING",
)

KNOWN_MODELS: dict[str, ModelFacts] = {
    "gemini-3.8-live": _38,
    "gemini-3.8-live-extended-thinking": _38_THINKING,
    "gemini-3.1-flash-live-preview": _31,
    "gemini-2.5-flash-native-audio-preview-12-2025": _25,
    "gemini-2.5-flash-native-audio-preview-09-2025": ModelFacts(
        "2.5", ("gemini",), retired="2026-03-19"
    ),
    "gemini-live-2.5-flash-native-audio": ModelFacts("2.5", ("vertex",)),
}

# Vertex serves Live models only in some regions; "global" is rejected with 1008.
VERTEX_LIVE_LOCATIONS = ("us-central1", "us-east5", "europe-west4")
RECOMMENDED_MODEL = "gemini-3.8-live"


def facts(model: str) -> ModelFacts | None:
    """The facts for `model` (an exact name, else its family by prefix), or None if unknown."""
    name = model.removeprefix("models/")
    if name in KNOWN_MODELS:
        return KNOWN_MODELS[name]
    if name.startswith("gemini-3.8-live-extended-thinking"):
        return _38_THINKING
    if name.startswith("gemini-3.8-live"):
        return _38
    if name.startswith("gemini-3.1-flash-live"):
        return _31
    if name.startswith(("gemini-2.5-flash-native-audio", "gemini-live-2.5-flash")):
        return _25
    return None
