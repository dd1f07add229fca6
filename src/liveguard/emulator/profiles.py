"""Which Live models the emulator knows, per platform, and how each family behaves on the wire.

The model name in `setup` picks a `Profile` (a scenario can pin one with `model.profile`). A profile
is a handful of switches the session reads at fixed points; the setup fields a family refuses are
checked here, so the service's refusals live in one place. Sources: the model pages and migration
notes summarised in the project's research notes (live-models-2026.md) and google-genai 3.6.1.

Platforms are told apart by the name's form, which is what the SDK sends: `models/X` (or a bare
name) on the Gemini API, `publishers/google/models/X` or `projects/P/locations/L/publishers/…` on
Vertex AI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "GEMINI_API_MODELS",
    "KNOWN_MODELS",
    "PROFILES",
    "RETIRED_MODELS",
    "VERTEX_MODELS",
    "Profile",
    "ProfileName",
    "bare_model_name",
    "is_known_model",
    "is_vertex_name",
    "profile_for",
    "setup_refusal",
    "unknown_model_reason",
]

ProfileName = Literal["2.5-native-audio", "3.1-flash-live", "3.8-live", "3.8-extended-thinking"]

#: bare name -> profile, per platform
GEMINI_API_MODELS: dict[str, ProfileName] = {
    "gemini-3.8-live": "3.8-live",
    "gemini-3.8-live-extended-thinking": "3.8-extended-thinking",
    "gemini-3.1-flash-live-preview": "3.1-flash-live",
    "gemini-2.5-flash-native-audio-preview-12-2025": "2.5-native-audio",
}
VERTEX_MODELS: dict[str, ProfileName] = {
    "gemini-live-2.5-flash-native-audio": "2.5-native-audio",
    "gemini-3.8-live": "3.8-live",
}
#: Vertex models served only in some regions (elsewhere, "global" included: 1008 not found)
VERTEX_REGIONS: dict[str, tuple[str, ...]] = {
    "gemini-live-2.5-flash-native-audio": ("us-central1", "us-east5", "europe-west4"),
}
#: retired on 2026-03-19; the service answers like for any unknown name (1008)
RETIRED_MODELS = frozenset({"gemini-2.5-flash-native-audio-preview-09-2025"})

#: Every accepted spelling: `X` and `models/X` (Gemini API), `publishers/google/models/X` (Vertex).
#: Full Vertex names (`projects/P/locations/L/publishers/google/models/X`) are accepted by
#: `is_known_model`.
KNOWN_MODELS: frozenset[str] = frozenset(
    [form for bare in GEMINI_API_MODELS for form in (bare, f"models/{bare}")]
    + [f"publishers/google/models/{bare}" for bare in VERTEX_MODELS]
)


def bare_model_name(model: str) -> str:
    """`models/x`, `publishers/google/models/x`, `projects/…/models/x` -> `x`."""
    if "/models/" in model:
        return model.rsplit("/models/", 1)[1]
    return model.removeprefix("models/")


def is_vertex_name(model: str) -> bool:
    return model.startswith(("publishers/", "projects/"))


def is_known_model(model: str) -> bool:
    """Served on the platform the name's form belongs to (and, on Vertex, in that location)."""
    bare = bare_model_name(model)
    if not is_vertex_name(model):
        return bare in GEMINI_API_MODELS
    if bare not in VERTEX_MODELS:
        return False
    regions = VERTEX_REGIONS.get(bare)
    parts = model.split("/")
    if regions and len(parts) > 3 and parts[0] == "projects" and parts[2] == "locations":
        return parts[3] in regions
    return True


def profile_for(model: str) -> ProfileName:
    """The profile of a known model name (see `is_known_model`)."""
    catalogue = VERTEX_MODELS if is_vertex_name(model) else GEMINI_API_MODELS
    return catalogue[bare_model_name(model)]


def unknown_model_reason(model: str) -> str:
    """The service's 1008 reason for a name it does not serve (not truncated)."""
    if is_vertex_name(model):
        return (
            f"Publisher model `{model}` was not found or your project does not have access to it. "
            "Please ensure you are using a valid model version."
        )
    return (
        f"models/{bare_model_name(model)} is not found for API version v1beta, or is not supported "
        "for bidiGenerateContent. Call ModelService.ListModels to see the list of available models "
        "and their supported methods."
    )


@dataclass(frozen=True, slots=True)
class Profile:
    """How one model family behaves where a client can see it."""

    name: ProfileName
    combined_parts: bool = False  # output transcription rides in the audio chunk's message
    interaction_status: bool = False  # `interactionStatus` on every turnComplete
    thinking_config: bool = True  # a thinking config is accepted in the setup
    proactive_audio_always: bool = False  # `proactivity.proactive_audio: false` is refused
    affective_dialog: bool = True  # `enableAffectiveDialog` is accepted
    stream_end_ends_turn: bool = True  # `audioStreamEnd` ends the caller's open activity
    polite: bool = False  # never starts speaking while the caller speaks
    content_waits: bool = False  # clientContent without turnComplete never interrupts
    background_work: bool = False  # requests the scenario marks get a background phase

    @property
    def label(self) -> str:
        return {
            "2.5-native-audio": "gemini-2.5 native audio",
            "3.1-flash-live": "gemini-3.1-flash-live-preview",
            "3.8-live": "gemini-3.8-live",
            "3.8-extended-thinking": "gemini-3.8-live-extended-thinking",
        }[self.name]


_LIVE_38 = dict(
    interaction_status=True,
    thinking_config=False,
    proactive_audio_always=True,
    affective_dialog=False,
    stream_end_ends_turn=False,
    polite=True,
    content_waits=True,
)

PROFILES: dict[ProfileName, Profile] = {
    "2.5-native-audio": Profile("2.5-native-audio"),
    "3.1-flash-live": Profile("3.1-flash-live", combined_parts=True),
    "3.8-live": Profile("3.8-live", **_LIVE_38),
    "3.8-extended-thinking": Profile("3.8-extended-thinking", background_work=True, **_LIVE_38),
}


def setup_refusal(profile: Profile, setup: dict) -> str | None:
    """The 1007 reason when the (parsed, snake_case) setup has a field this family refuses."""
    gen_cfg = setup.get("generation_config") or {}
    if not profile.thinking_config and gen_cfg.get("thinking_config") is not None:
        return (
            f"setup.generationConfig.thinkingConfig is not supported by {profile.label}; omit it."
        )
    proactivity = setup.get("proactivity") or {}
    if profile.proactive_audio_always and proactivity.get("proactive_audio") is False:
        return (
            f"setup.proactivity.proactiveAudio=false is not supported by {profile.label} "
            "(always on)."
        )
    if not profile.affective_dialog and gen_cfg.get("enable_affective_dialog") is not None:
        return f"setup.generationConfig.enableAffectiveDialog is not supported by {profile.label}."
    return None
