"""The upstream config and client a guarded session builds from liveguard settings."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import types

from liveguard.config.settings import Settings, VadSettings
from liveguard.session.config import ensure_keepalive, live_config, make_client


def test_resumption_always_requested_and_transcription_on():
    cfg = live_config(Settings())
    assert cfg.session_resumption is not None and cfg.session_resumption.handle is None
    assert cfg.input_audio_transcription is not None
    assert cfg.output_audio_transcription is not None
    assert cfg.response_modalities == [types.Modality.AUDIO]
    assert live_config(Settings(), handle="h-7").session_resumption.handle == "h-7"


def test_server_vad_settings_pass_through():
    vad = VadSettings(
        start_of_speech_sensitivity="START_SENSITIVITY_LOW",
        end_of_speech_sensitivity="END_SENSITIVITY_HIGH",
        prefix_padding_ms=200,
        silence_duration_ms=700,
        activity_handling="NO_INTERRUPTION",
    )
    ric = live_config(Settings(vad=vad)).realtime_input_config
    aad = ric.automatic_activity_detection
    assert aad.disabled is False
    assert aad.start_of_speech_sensitivity == types.StartSensitivity.START_SENSITIVITY_LOW
    assert aad.end_of_speech_sensitivity == types.EndSensitivity.END_SENSITIVITY_HIGH
    assert (aad.prefix_padding_ms, aad.silence_duration_ms) == (200, 700)
    assert ric.activity_handling == types.ActivityHandling.NO_INTERRUPTION


def test_client_vad_disables_server_detection_but_keeps_transcription():
    cfg = live_config(Settings(vad=VadSettings(mode="client")))
    assert cfg.realtime_input_config.automatic_activity_detection.disabled is True
    assert cfg.input_audio_transcription is not None


def test_compression_voice_headers_extra():
    cfg = live_config(
        Settings(voice="Puck", system_instruction="Be brief."),
        context_window_compression={
            "trigger_tokens": 25600,
            "sliding_window": {"target_tokens": 12800},
        },
        headers={"x-liveguard-scenario": "healthy"},
        extra={"temperature": 0.3},
    )
    assert cfg.context_window_compression.trigger_tokens == 25600
    assert cfg.speech_config.voice_config.prebuilt_voice_config.voice_name == "Puck"
    assert cfg.http_options.headers == {"x-liveguard-scenario": "healthy"}
    assert cfg.temperature == 0.3
    assert cfg.system_instruction == "Be brief."


def test_extra_cannot_override_what_liveguard_owns():
    with pytest.raises(ValueError, match="session_resumption"):
        live_config(Settings(), extra={"session_resumption": None})


def test_make_client_sets_slow_pong_tolerant_keepalive():
    client = make_client(
        Settings(ping_interval_s=25, ping_timeout_s=90), api_key="k", base_url="https://127.0.0.1:1"
    )
    args = client._api_client._websocket_ssl_ctx
    assert (args["ping_interval"], args["ping_timeout"]) == (25, 90)


def test_ensure_keepalive_keeps_the_applications_own_choice():
    own = genai.Client(
        api_key="k",
        http_options={"base_url": "https://127.0.0.1:1", "async_client_args": {"ping_timeout": 5}},
    )
    assert ensure_keepalive(own, Settings(ping_interval_s=30, ping_timeout_s=60))
    args = own._api_client._websocket_ssl_ctx
    assert args["ping_timeout"] == 5 and args["ping_interval"] == 30
