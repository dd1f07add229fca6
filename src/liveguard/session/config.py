"""Build the SDK's `LiveConnectConfig` and `genai.Client` from liveguard settings.

Why a module of its own: every (re)connect of a guarded session needs the same config with only the
resumption handle changed, and the rules that make a session guardable live here in one place —
resumption always requested, transcription on by default, VAD settings passed through (or automatic
detection disabled in client-VAD mode), context window compression passed through, and websocket
keepalive tolerant of the service's slow pongs.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

from google import genai
from google.genai import types

from liveguard.config.settings import Settings, VadSettings
from liveguard.config.upstream import Upstream, choose_upstream, vertex_selected
from liveguard.fastpath.sdk_keepalive import connect_args

# The websockets client the SDK uses pings every 20 s and gives up after 20 s without a pong. The
# service's pongs have been measured at 8–30 s, so those defaults drop healthy sessions.
KEEPALIVE_KEYS = ("ping_interval", "ping_timeout")


def realtime_input_config(vad: VadSettings) -> types.RealtimeInputConfig:
    """`realtimeInputConfig` from the VAD settings: server VAD tuned, or disabled in client mode."""
    if vad.mode == "client":
        detection = types.AutomaticActivityDetection(disabled=True)
    else:
        detection = types.AutomaticActivityDetection(
            disabled=False,
            start_of_speech_sensitivity=vad.start_of_speech_sensitivity,
            end_of_speech_sensitivity=vad.end_of_speech_sensitivity,
            prefix_padding_ms=vad.prefix_padding_ms,
            silence_duration_ms=vad.silence_duration_ms,
        )
    return types.RealtimeInputConfig(
        automatic_activity_detection=detection,
        activity_handling=vad.activity_handling,
    )


def live_config(
    settings: Settings,
    *,
    handle: str | None = None,
    context_window_compression: types.ContextWindowCompressionConfig | dict | None = None,
    input_transcription: bool = True,
    output_transcription: bool = True,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> types.LiveConnectConfig:
    """The config of one upstream connection; only `handle` differs between reconnects.

    `extra` holds any other `LiveConnectConfig` fields (tools, temperature, ...) passed through as
    they are. `headers` become per-connection HTTP headers (the SDK allows only base_url,
    api_version and headers there).
    """
    fields: dict[str, Any] = {
        "response_modalities": [types.Modality.AUDIO],
        "system_instruction": settings.system_instruction or None,
        # Always requested: a handle is what lets a dropped or wedged session be resumed.
        "session_resumption": types.SessionResumptionConfig(handle=handle),
        "realtime_input_config": realtime_input_config(settings.vad),
    }
    if settings.voice:
        fields["speech_config"] = types.SpeechConfig(
            voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=settings.voice)
            )
        )
    if input_transcription:
        fields["input_audio_transcription"] = types.AudioTranscriptionConfig()
    if output_transcription:
        fields["output_audio_transcription"] = types.AudioTranscriptionConfig()
    if context_window_compression is not None:
        fields["context_window_compression"] = context_window_compression
    fields.update(model_fields(settings))
    if headers:
        fields["http_options"] = types.HttpOptions(headers=dict(headers))
    for key, value in (extra or {}).items():
        if key in fields and key != "http_options":
            raise ValueError(f"extra config field {key!r} is set by liveguard; use its setting")
        fields[key] = value
    return types.LiveConnectConfig(**fields)


def model_fields(settings: Settings) -> dict[str, Any]:
    """Setup fields that only some models accept; sent only when set (`liveguard doctor` checks).

    The tools' declarations come from `settings.tools` (docs/tools.md).
    """
    out: dict[str, Any] = {}
    if settings.thinking_level is not None:
        out["thinking_config"] = types.ThinkingConfig(
            thinking_level=types.ThinkingLevel(settings.thinking_level)
        )
    if settings.proactive_audio is not None:
        out["proactivity"] = types.ProactivityConfig(proactive_audio=settings.proactive_audio)
    if settings.affective_dialog is not None:
        out["enable_affective_dialog"] = settings.affective_dialog
    if settings.tools:
        from liveguard.tools.declarations import build_tool, declarations

        def no_webhook_calls(entry: Any) -> Any:  # declarations only: nothing is invoked here
            return None

        out["tools"] = declarations(
            {e.tool_name: build_tool(e, no_webhook_calls) for e in settings.tools}
        )
    return out


def keepalive_args(settings: Settings) -> dict[str, float]:
    return {"ping_interval": settings.ping_interval_s, "ping_timeout": settings.ping_timeout_s}


def make_client(
    settings: Settings | None = None,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
    upstream: Upstream | None = None,
) -> genai.Client:
    """A `genai.Client` whose live websockets tolerate slow pongs.

    With `upstream` of a Vertex kind (`liveguard.config.upstream.choose_upstream`) the client
    talks to Vertex AI with that project, location and credentials. Otherwise the key comes from
    `api_key`, else `settings.api_key`, else the SDK's own environment lookup
    (`GOOGLE_API_KEY` / `GEMINI_API_KEY`). `ssl_context` is how a client trusts the emulator's CA.
    """
    settings = settings or Settings()
    if upstream is None and api_key is None and not base_url:
        if vertex_selected(settings, os.environ):
            upstream = choose_upstream(settings)  # UpstreamError when Vertex cannot be used
    vertex = upstream is not None and upstream.vertexai
    if api_key is None and settings.api_key is not None and not vertex:
        api_key = settings.api_key.get_secret_value()
    async_args: dict[str, Any] = dict(keepalive_args(settings))
    if ssl_context is not None:
        async_args["ssl"] = ssl_context
    http: dict[str, Any] = {"async_client_args": async_args}
    if base_url:
        http["base_url"] = base_url
    if headers:
        http["headers"] = dict(headers)
    if vertex:
        assert upstream is not None
        return genai.Client(
            vertexai=True,
            project=upstream.project,
            location=upstream.location,
            credentials=upstream.credentials,
            http_options=types.HttpOptions(**http),
        )
    return genai.Client(api_key=api_key, vertexai=False, http_options=types.HttpOptions(**http))


def ensure_keepalive(client: genai.Client, settings: Settings) -> bool:
    """Give an application's own client the keepalive settings unless it chose its own.

    The SDK computes the websocket connect arguments once, when the client is built; this adds
    `ping_interval` / `ping_timeout` there if they are absent (`liveguard.fastpath.sdk_keepalive`).
    Returns False when the SDK's internals do not look as expected (nothing is changed then, and
    the fast-path seam says so once in the log).
    """
    args = connect_args(client)
    if args is None:
        return False
    for key, value in keepalive_args(settings).items():
        args.setdefault(key, value)
    return True
