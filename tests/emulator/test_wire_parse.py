"""parse_client_frame / encode_server_message against the frames the SDK really sends (spec §14)."""

from __future__ import annotations

import base64
import json

import pytest

from liveguard.emulator.wire import (
    MAX_SERVER_FRAME_BYTES,
    ServerFrameError,
    WireError,
    decode_base64,
    encode_server_message,
    parse_client_frame,
    truncate_reason,
)

# Captured verbatim from google-genai 3.6.1 (spec §14).
SDK_FRAMES = [
    '{"setup": {"model": "models/gemini-2.5-flash-native-audio-preview-12-2025", "generationConfig": {"responseModalities": ["AUDIO"], "temperature": 0.7, "mediaResolution": "MEDIA_RESOLUTION_LOW", "speechConfig": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}, "language_code": "en-US"}, "thinkingConfig": {"include_thoughts": true, "thinking_budget": 1024}, "enableAffectiveDialog": true}, "systemInstruction": {"parts": [{"text": "You are a helpful assistant."}], "role": "user"}, "tools": [{"functionDeclarations": [{"description": "Get weather", "name": "get_weather", "parameters": {"properties": {"city": {"type": "STRING"}}, "required": ["city"], "type": "OBJECT"}}]}], "sessionResumption": {"handle": "prev-handle"}, "inputAudioTranscription": {}, "outputAudioTranscription": {}, "realtimeInputConfig": {"automatic_activity_detection": {"disabled": false, "start_of_speech_sensitivity": "START_SENSITIVITY_LOW", "end_of_speech_sensitivity": "END_SENSITIVITY_LOW", "prefix_padding_ms": 20, "silence_duration_ms": 100}, "activity_handling": "NO_INTERRUPTION", "turn_coverage": "TURN_INCLUDES_ALL_INPUT"}, "contextWindowCompression": {"trigger_tokens": 25600, "sliding_window": {"target_tokens": 12800}}, "proactivity": {"proactive_audio": true}}}',  # noqa: E501
    '{"realtime_input": {"audio": {"data": "AQD___v_", "mime_type": "audio/pcm;rate=16000"}}}',
    '{"realtime_input": {"audioStreamEnd": true}}',
    '{"realtime_input": {"activityStart": {}}}',
    '{"realtime_input": {"activityEnd": {}}}',
    '{"realtime_input": {"text": "hello text"}}',
    '{"realtime_input": {"video": {"data": "_9j_4A==", "mime_type": "image/jpeg"}}}',
    '{"realtime_input": {"mediaChunks": [{"data": "AAE=", "mime_type": "audio/pcm"}]}}',
    '{"client_content": {"turns": [{"parts": [{"text": "Hi"}], "role": "user"}], "turnComplete": true}}',  # noqa: E501
    '{"client_content": {"turnComplete": true}}',
    '{"tool_response": {"functionResponses": [{"id": "function-call-123", "name": "get_weather", "response": {"temp": 21}}]}}',  # noqa: E501
    '{"tool_response": {"functionResponses": [{"will_continue": false, "scheduling": "INTERRUPT", "id": "fc-2", "name": "x", "response": {"output": "ok"}}]}}',  # noqa: E501
    '{"contextUpdate": {"systemInstruction": {"parts": [{"text": "New instruction"}], "role": "user"}}}',  # noqa: E501
    '{"contextUpdate": {"tools": {"tools": []}}}',
    '{"setup": {"model": "models/m", "generationConfig": {"responseModalities": ["TEXT"]}, "tools": [{"googleSearch": {}}, {"functionDeclarations": [{"name": "f", "parameters_json_schema": {"type": "object", "properties": {"a": {"type": "string"}}}, "behavior": "NON_BLOCKING"}]}], "historyConfig": {"initial_history_in_client_content": true}}}',  # noqa: E501
    '{"client_content": {"turns": [{"parts": [{"inlineData": {"data": "_9j_", "mime_type": "image/jpeg"}}, {"text": "what is this"}], "role": "user"}, {"parts": [{"functionCall": {"id": "c1", "args": {"a": "b"}, "name": "f"}}], "role": "model"}, {"parts": [{"functionResponse": {"id": "c1", "name": "f", "response": {"ok": true}}}], "role": "user"}], "turnComplete": false}}',  # noqa: E501
    '{"client_content": {"turns": [{"parts": [{"text": "hi there"}], "role": "user"}], "turn_complete": true}}',  # noqa: E501
    '{"realtime_input": {"media_chunks": [{"data": "AAEC", "mime_type": "audio/pcm;rate=16000"}]}}',
    '{"tool_response": {"function_responses": [{"name": "f", "response": {"r": 1}, "id": "a"}]}}',
    '{"setup": {"model": "projects/my-proj/locations/us-central1/publishers/google/models/gemini-live-2.5-flash-native-audio", "generationConfig": {"speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voice_name": "Kore"}}}, "responseModalities": ["AUDIO"]}, "sessionResumption": {"handle": "h1", "transparent": true}, "inputAudioTranscription": {}, "realtimeInputConfig": {"automatic_activity_detection": {"disabled": true}}, "explicitVadSignal": true}}',  # noqa: E501
]


@pytest.mark.parametrize("frame", SDK_FRAMES)
def test_every_captured_sdk_frame_parses(frame: str) -> None:
    msg = parse_client_frame(frame)
    top = next(iter(json.loads(frame)))
    expected = {"contextUpdate": "context_update"}.get(top, top)
    assert msg.kind == expected
    assert isinstance(msg.body, dict)


def test_full_setup_is_normalised_to_snake_case() -> None:
    body = parse_client_frame(SDK_FRAMES[0]).body
    gen = body["generation_config"]
    assert gen["response_modalities"] == ["AUDIO"]
    assert gen["speech_config"]["voice_config"]["prebuilt_voice_config"]["voice_name"] == "Kore"
    aad = body["realtime_input_config"]["automatic_activity_detection"]
    assert aad == {
        "disabled": False,
        "start_of_speech_sensitivity": "START_SENSITIVITY_LOW",
        "end_of_speech_sensitivity": "END_SENSITIVITY_LOW",
        "prefix_padding_ms": 20,
        "silence_duration_ms": 100,
    }
    assert body["session_resumption"] == {"handle": "prev-handle"}
    assert body["context_window_compression"]["sliding_window"] == {"target_tokens": 12800}
    assert body["system_instruction"]["parts"][0]["text"] == "You are a helpful assistant."


def test_camel_and_snake_spellings_give_the_same_body() -> None:
    camel = {
        "setup": {
            "model": "models/x",
            "realtimeInputConfig": {
                "automaticActivityDetection": {"disabled": True, "silenceDurationMs": 300},
                "activityHandling": "no_interruption",
            },
            "inputAudioTranscription": {},
        }
    }
    snake = {
        "setup": {
            "model": "models/x",
            "realtime_input_config": {
                "automatic_activity_detection": {"disabled": True, "silence_duration_ms": 300},
                "activity_handling": "NO_INTERRUPTION",
            },
            "input_audio_transcription": {},
        }
    }
    a, b = parse_client_frame(json.dumps(camel)), parse_client_frame(json.dumps(snake))
    assert a == b
    assert a.body["realtime_input_config"]["activity_handling"] == "NO_INTERRUPTION"
    assert parse_client_frame('{"realtimeInput": {"audioStreamEnd": true}}').kind == (
        "realtime_input"
    )
    assert parse_client_frame('{"toolResponse": {"functionResponses": []}}').kind == (
        "tool_response"
    )
    assert parse_client_frame('{"context_update": {}}').kind == "context_update"


PCM = bytes(range(256)) * 3 + b"\xff\xfe\xfb"


@pytest.mark.parametrize(
    "encoded",
    [
        base64.b64encode(PCM).decode(),
        base64.b64encode(PCM).decode().rstrip("="),
        base64.urlsafe_b64encode(PCM).decode(),
        base64.urlsafe_b64encode(PCM).decode().rstrip("="),
    ],
    ids=["std-padded", "std-unpadded", "url-padded", "url-unpadded"],
)
def test_both_base64_alphabets_padded_or_not(encoded: str) -> None:
    frame = {"realtime_input": {"audio": {"data": encoded, "mimeType": "audio/pcm;rate=16000"}}}
    body = parse_client_frame(json.dumps(frame)).body
    assert body["audio"]["data"] == PCM
    assert body["audio"]["mime_type"] == "audio/pcm;rate=16000"


def test_blob_data_decoded_everywhere() -> None:
    frame = json.loads(SDK_FRAMES[-5])
    body = parse_client_frame(json.dumps(frame)).body
    assert body["turns"][0]["parts"][0]["inline_data"]["data"] == b"\xff\xd8\xff"
    chunks = parse_client_frame(SDK_FRAMES[7]).body["media_chunks"]
    assert chunks == [{"data": b"\x00\x01", "mime_type": "audio/pcm"}]


def test_opaque_maps_keep_their_keys() -> None:
    frame = {
        "setup": {
            "model": "models/x",
            "labels": {"team_name": "a", "costCentre": "b"},
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "f",
                            "parameters": {
                                "type": "object",
                                "properties": {"city_name": {"type": "string"}, "zipCode": {}},
                            },
                            "parametersJsonSchema": {"additionalProperties": False, "x_y": 1},
                        }
                    ]
                }
            ],
        }
    }
    body = parse_client_frame(json.dumps(frame)).body
    assert body["labels"] == {"team_name": "a", "costCentre": "b"}
    decl = body["tools"][0]["function_declarations"][0]
    assert set(decl["parameters"]["properties"]) == {"city_name", "zipCode"}
    assert decl["parameters"]["type"] == "OBJECT"
    assert decl["parameters_json_schema"] == {"additionalProperties": False, "x_y": 1}
    resp = {
        "tool_response": {"functionResponses": [{"id": "1", "response": {"fooBar": {"a_b": 1}}}]}
    }
    parsed = parse_client_frame(json.dumps(resp)).body
    assert parsed["function_responses"][0]["response"] == {"fooBar": {"a_b": 1}}
    call = json.loads(SDK_FRAMES[-5])
    turns = parse_client_frame(json.dumps(call)).body["turns"]
    assert turns[1]["parts"][0]["function_call"]["args"] == {"a": "b"}


def test_null_means_unset_and_numbers_follow_proto3_json() -> None:
    frame = {
        "setup": {
            "model": "models/x",
            "generationConfig": {"temperature": 1, "maxOutputTokens": "64", "seed": 3.0},
            "systemInstruction": None,
        }
    }
    body = parse_client_frame(json.dumps(frame)).body
    assert "system_instruction" not in body
    assert body["generation_config"] == {"temperature": 1.0, "max_output_tokens": 64, "seed": 3}


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (
            '{"setup": {"model": "models/x", "bogusField": 1}}',
            "Invalid JSON payload received. Unknown name \"bogusField\" at 'setup': "
            "Cannot find field.",
        ),
        (
            '{"setup": {"generationConfig": {"speechConfig": {"voice": "Kore"}}}}',
            'Invalid JSON payload received. Unknown name "voice" at '
            "'setup.generation_config.speech_config': Cannot find field.",
        ),
        (
            '{"realtime_input": {"audio": {"data": "AAAA", "rate": 16000}}}',
            "Invalid JSON payload received. Unknown name \"rate\" at 'realtime_input.audio': "
            "Cannot find field.",
        ),
        (
            '{"bogus": {}}',
            'Invalid JSON payload received. Unknown name "bogus": Cannot find field.',
        ),
        ("{not json", "Invalid JSON payload received. Unexpected token."),
        ("", "Invalid JSON payload received. Unexpected token."),
        ("[1, 2]", "Invalid JSON payload received. Expected a JSON object at the top level."),
        ("{}", "Request contains an invalid argument."),
        ('{"setup": null}', "Request contains an invalid argument."),
    ],
)
def test_invalid_frames_get_1007_with_the_service_reason(frame: str, reason: str) -> None:
    with pytest.raises(WireError) as info:
        parse_client_frame(frame)
    assert info.value.code == 1007
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("frame", "where"),
    [
        ('{"setup": {"model": 5}}', "'setup.model' (TYPE_STRING)"),
        ('{"setup": {"generationConfig": {"temperature": "hot"}}}', "temperature' (TYPE_FLOAT)"),
        ('{"setup": {"generationConfig": {"seed": 1.5}}}', "seed' (TYPE_INT32)"),
        ('{"setup": {"generationConfig": {"seed": true}}}', "seed' (TYPE_INT32)"),
        ('{"setup": {"generationConfig": []}}', "generation_config' (TYPE_MESSAGE)"),
        ('{"setup": {"tools": {}}}', "'setup.tools' (TYPE_LIST)"),
        ('{"realtime_input": {"audioStreamEnd": "yes"}}', "audio_stream_end' (TYPE_BOOL)"),
        ('{"realtime_input": {"audio": {"data": 12}}}', "'realtime_input.audio.data' (TYPE_BYTES)"),
        ('{"client_content": {"turns": [{"parts": [{"text": ["a"]}]}]}}', "turns[0].parts[0].text"),
        ('{"setup": {"generationConfig": {"responseModalities": [{}]}}}', "(TYPE_ENUM)"),
        ('{"tool_response": {"functionResponses": [{"response": [1]}]}}', "(TYPE_MESSAGE)"),
        ('{"realtime_input": {"audio": {"data": "AA$A"}}}', "Base64 decoding failed"),
        ('{"realtime_input": {"audio": {"data": "AAAAA"}}}', "Base64 decoding failed"),
    ],
)
def test_wrong_types_get_1007_naming_the_field(frame: str, where: str) -> None:
    with pytest.raises(WireError) as info:
        parse_client_frame(frame)
    assert info.value.code == 1007
    assert where in info.value.reason
    assert len(info.value.reason.encode()) <= 123


def test_more_than_one_top_level_key_is_refused() -> None:
    with pytest.raises(WireError) as info:
        parse_client_frame('{"realtime_input": {}, "client_content": {}}')
    assert info.value.code == 1007
    assert "Oneof" in info.value.reason


def test_same_field_in_both_spellings_is_refused() -> None:
    with pytest.raises(WireError) as info:
        parse_client_frame('{"client_content": {"turnComplete": true, "turn_complete": false}}')
    assert "Duplicate field" in info.value.reason


def test_reason_truncated_to_123_bytes_without_splitting_characters() -> None:
    long_name = "é" * 100
    with pytest.raises(WireError) as info:
        parse_client_frame(json.dumps({"setup": {long_name: 1}}))
    raw = info.value.reason.encode("utf-8")
    assert 120 <= len(raw) <= 123
    assert truncate_reason("x" * 200) == "x" * 123
    assert truncate_reason("short") == "short"


def test_deep_nesting_is_a_wire_error_not_a_crash() -> None:
    deep = '{"setup": {"labels": ' + "[" * 50_000 + "]" * 50_000 + "}}"
    with pytest.raises(WireError):
        parse_client_frame(deep)


def test_decode_base64_rejects_garbage() -> None:
    assert decode_base64("AQD___v_") == b"\x01\x00\xff\xff\xfb\xff"
    assert decode_base64("") == b""
    for bad in ["A", "AB=C", "A B", "@@@@"]:
        with pytest.raises(ValueError):
            decode_base64(bad)


def test_encode_server_message_is_compact_utf8_with_std_base64() -> None:
    data = encode_server_message(
        {
            "serverContent": {
                "modelTurn": {
                    "parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": PCM}}]
                },
                "outputTranscription": {"text": "¿Qué tal?"},
            }
        }
    )
    assert isinstance(data, bytes)
    assert b", " not in data and b": " not in data
    decoded = json.loads(data.decode("utf-8"))
    part = decoded["serverContent"]["modelTurn"]["parts"][0]
    assert base64.b64decode(part["inlineData"]["data"], validate=True) == PCM
    assert "¿Qué tal?".encode() in data
    assert encode_server_message({"setupComplete": {}}) == b'{"setupComplete":{}}'


@pytest.mark.parametrize(
    "msg", [{"server_content": {}}, {"error": {"code": 1}}, {}, {"setupComplete": {}, "x": 1}]
)
def test_encode_refuses_top_level_keys_that_crash_the_sdk(msg: dict) -> None:
    with pytest.raises(ServerFrameError):
        encode_server_message(msg)


def test_encode_refuses_frames_of_1_mib_or_more() -> None:
    big = "x" * MAX_SERVER_FRAME_BYTES
    with pytest.raises(ServerFrameError, match="1 MiB"):
        encode_server_message({"serverContent": {"outputTranscription": {"text": big}}})
    ok = encode_server_message({"serverContent": {"outputTranscription": {"text": "x" * 1000}}})
    assert len(ok) < MAX_SERVER_FRAME_BYTES
