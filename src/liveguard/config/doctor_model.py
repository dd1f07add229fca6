"""The doctor's checks of a settings file against the chosen model, the platform and the tools.

Why separate from doctor.py: these follow the model table (config/models.py), which changes with
every model release, while the VAD and guard checks follow the incident; each finding says what
the service does with the setting, not only that it is "unsupported".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from liveguard.config.models import RECOMMENDED_MODEL, VERTEX_LIVE_LOCATIONS, ModelFacts, facts
from liveguard.config.upstream import vertex_selected

Report = Callable[[str, str], None]  # (setting, message)


def check_model(
    settings: Any, warn: Report, note: Report, env: Mapping[str, str] | None = None
) -> None:
    """Model name, setup fields the model rejects, and the platform (Gemini API or Vertex AI)."""
    env = os.environ if env is None else env
    model = settings.model
    f = facts(model)
    if f is None:
        note(
            "model",
            f"{model!r} is not a Live model liveguard knows; the checks below assume nothing "
            f"about it. Today's default live model is {RECOMMENDED_MODEL}.",
        )
    elif f.retired:
        warn(
            "model",
            f"{model} was retired on {f.retired}: the service no longer serves it and every "
            f"setup fails. Use {RECOMMENDED_MODEL} (Gemini API and Vertex AI) or "
            "gemini-2.5-flash-native-audio-preview-12-2025 for the same 2.5 behaviour.",
        )
    vertex = vertex_selected(settings, env)
    if f is not None:
        _setup_fields(settings, f, model, vertex, warn, note)
        platform = "vertex" if vertex else "gemini"
        if platform not in f.platforms:
            where = "Vertex AI" if vertex else "the Gemini API"
            served = " and ".join(
                "Vertex AI" if p == "vertex" else "Gemini API" for p in f.platforms
            )
            warn(
                "model",
                f"{model} is not served on {where} (it is a {served} model): the setup is "
                "rejected with 1008 'model not found'.",
            )
    if vertex:
        location = settings.vertex.location or env.get("GOOGLE_CLOUD_LOCATION")
        if location and location not in VERTEX_LIVE_LOCATIONS:
            warn(
                "vertex.location",
                f"{location!r}: Vertex AI serves Live models only in some regions "
                f"({', '.join(VERTEX_LIVE_LOCATIONS)}); elsewhere, 'global' included, the setup is "
                "rejected with 1008 'Publisher model ... was not found'.",
            )


def _setup_fields(
    settings: Any, f: ModelFacts, model: str, vertex: bool, warn: Report, note: Report
) -> None:
    if settings.thinking_level is not None and not f.thinking_config:
        warn(
            "thinking_level",
            f"{model} does not take a thinking config (3.8 thinks on its own): the service "
            "rejects the setup and closes the connection naming the field. Remove it.",
        )
    if settings.proactive_audio is not None and not f.proactivity:
        warn(
            "proactive_audio",
            f"{model} has no proactive audio; with a proactivity config in the setup, "
            "setupComplete has been reported never to arrive (the call stays silent from the "
            "start). Remove proactive_audio.",
        )
    elif settings.proactive_audio is False and not f.proactive_audio_off:
        warn(
            "proactive_audio",
            f"proactive audio is always on for {model}; `proactive_audio: false` is an error "
            "that closes the connection at setup. Remove it (the guard's answer deadline still "
            "bounds silences).",
        )
    if settings.affective_dialog is not None and not f.affective_dialog:
        if vertex and f.family.startswith("3.8"):
            note(
                "affective_dialog",
                "the Vertex AI guide lists affective dialog as on by default for 3.8 while the "
                "Gemini API removed it; the two disagree, so setting it may be rejected. Leave "
                "it unset unless you have checked it on your project.",
            )
        else:
            warn(
                "affective_dialog",
                f"{model} has no affective dialog; enableAffectiveDialog in the setup is "
                "rejected (3.8) or has been reported to stop setupComplete from arriving (3.1). "
                "Remove it.",
            )


def check_tools(settings: Any, warn: Report, note: Report) -> None:
    """Each tool entry against the model's function-calling rules and the guard's deadline."""
    f = facts(settings.model)
    g = settings.guard
    for i, entry in enumerate(settings.tools):
        where = f"tools[{i}] ({entry.tool_name})"
        behavior = entry.behavior or (f.default_behavior if f else "BLOCKING")
        if f is not None and behavior == "NON_BLOCKING" and not f.non_blocking_tools:
            warn(
                where,
                f"NON_BLOCKING on {settings.model}, which runs function calls synchronously "
                "only: the model waits for every result in silence. Use behavior: BLOCKING and "
                "a short timeout_s, or a model with asynchronous calls (gemini-3.8-live).",
            )
        if f is not None and behavior == "BLOCKING" and not f.blocking_tools:
            warn(
                where,
                f"BLOCKING on {settings.model}, whose function calls are asynchronous only: "
                "the declaration is rejected or treated as NON_BLOCKING. Remove behavior.",
            )
        if entry.scheduling and behavior == "BLOCKING":
            note(where, f"scheduling {entry.scheduling} applies to NON_BLOCKING results only.")
        timeout = entry.timeout_s or settings.tool_limits.timeout_s
        if (
            behavior == "BLOCKING"
            and timeout > g.answer_deadline_s
            and settings.filler_audio is None
        ):
            note(
                where,
                f"a BLOCKING call may take up to {timeout:g} s while the caller hears nothing "
                f"(answer deadline {g.answer_deadline_s:g} s); set filler_audio or a shorter "
                "timeout_s.",
            )
        webhook = getattr(entry, "webhook", None)
        if webhook is not None:
            host = webhook.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
            if webhook.startswith("http://") and host not in ("127.0.0.1", "localhost", "[::1]"):
                warn(where, "the webhook is plain http: the arguments travel unencrypted.")
            if entry.secret is None:
                note(where, "no secret: the receiver cannot verify that the relay sent the call.")
