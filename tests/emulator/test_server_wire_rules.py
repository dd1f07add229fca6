"""Wire rules, exercised with the real google-genai SDK and raw WebSocket clients."""

from __future__ import annotations

import base64
import json
import ssl
import warnings
from typing import Any

import pytest
from google import genai
from google.genai import errors, types
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from liveguard.emulator.server import Emulator
from liveguard.emulator.wire import SERVER_TOP_LEVEL_KEYS

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
GEMINI_PATH = "/ws/google.ai.generativelanguage.{v}.GenerativeService.BidiGenerateContent"
VERTEX_PATH = "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
SETUP = json.dumps({"setup": {"model": f"models/{MODEL}"}})
TEXT_TURN = json.dumps(
    {
        "client_content": {
            "turns": [{"role": "user", "parts": [{"text": "Hello"}]}],
            "turnComplete": True,
        }
    }
)


def wss(emu: Emulator, path: str) -> str:
    return emu.base_url.replace("https://", "wss://", 1) + path


def raw(emu: Emulator, path: str | None = None, headers: dict | None = None, **kw: Any):
    """A raw websockets client (what the SDK would never send)."""
    if headers is None:
        headers = {"x-goog-api-key": emu.api_key}
    return ws_connect(
        wss(emu, path or GEMINI_PATH.format(v="v1beta")),
        ssl=emu.ssl_context(),
        additional_headers=headers,
        **kw,
    )


async def expect_close(ws: Any) -> tuple[int, str]:
    """Read until the server closes; return its (code, reason)."""
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(10_000):
            await ws.recv()
    assert info.value.rcvd is not None, "the server must close with a close frame"
    return info.value.rcvd.code, info.value.rcvd.reason


async def one_text_turn(session: Any) -> list[types.LiveServerMessage]:
    await session.send_client_content(
        turns=types.Content(role="user", parts=[types.Part(text="Hello")]), turn_complete=True
    )
    return [msg async for msg in session.receive()]


# --------------------------------------------------------------------------- TLS and paths


async def test_sdk_connects_over_tls_with_an_ssl_context(emulator: Emulator) -> None:
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL) as session:
        msgs = await one_text_turn(session)
    assert msgs[-1].server_content is not None and msgs[-1].server_content.turn_complete
    stats = (await emulator.wait_closed_sessions())[0]
    assert stats.setup_complete
    assert stats.api_version == "v1"  # the SDK 3.x default
    assert (stats.close_code, stats.close_side) == (1000, "client")


async def test_sdk_connects_with_ssl_cert_file(emulator: Emulator, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", emulator.ca_file)
    client = genai.Client(
        api_key=emulator.api_key, http_options=types.HttpOptions(base_url=emulator.base_url)
    )
    async with client.aio.live.connect(model=MODEL) as session:
        msgs = await one_text_turn(session)
    assert msgs[-1].server_content.turn_complete


async def test_untrusted_certificate_is_refused(emulator: Emulator) -> None:
    client = genai.Client(
        api_key=emulator.api_key,
        http_options=types.HttpOptions(
            base_url=emulator.base_url,
            async_client_args={"ssl": ssl.create_default_context()},  # system CAs only
        ),
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        async with client.aio.live.connect(model=MODEL):
            pass


@pytest.mark.parametrize("version", ["v1", "v1beta", "v1alpha"])
async def test_every_api_version(emulator: Emulator, version: str) -> None:
    client = emulator.client(api_version=version)
    async with client.aio.live.connect(model=MODEL) as session:
        assert session is not None
    stats = (await emulator.wait_closed_sessions())[0]
    assert stats.setup_complete and stats.api_version == version


@pytest.mark.parametrize("base", ["{url}/", "{url}/some/prefix", "{url}/some/prefix/"])
async def test_base_paths_and_double_slashes(emulator: Emulator, base: str) -> None:
    client = emulator.client(base_url=base.format(url=emulator.base_url))
    async with client.aio.live.connect(model=MODEL) as session:
        assert session is not None
    stats = (await emulator.wait_closed_sessions())[0]
    assert stats.setup_complete
    if base.endswith("/"):
        assert "//ws/" in stats.path


async def test_localhost_name_is_in_the_certificate(emulator: Emulator) -> None:
    client = emulator.client(base_url=f"https://localhost:{emulator.port}")
    async with client.aio.live.connect(model=MODEL) as session:
        assert session is not None
    assert (await emulator.wait_closed_sessions())[0].setup_complete


async def test_vertex_express_path_through_the_sdk(emulator: Emulator) -> None:
    client = emulator.client(vertexai=True)
    async with client.aio.live.connect(model="gemini-live-2.5-flash-native-audio") as session:
        assert session is not None
    stats = (await emulator.wait_closed_sessions())[0]
    assert stats.setup_complete and stats.vertex and stats.api_version == "v1beta1"
    assert stats.model == "publishers/google/models/gemini-live-2.5-flash-native-audio"


async def test_vertex_path_with_a_bearer_token(emulator: Emulator) -> None:
    setup = {
        "setup": {
            "model": "projects/p/locations/us-central1/publishers/google/models/"
            "gemini-live-2.5-flash-native-audio"
        }
    }
    async with raw(emulator, VERTEX_PATH, {"Authorization": "Bearer ya29.token"}) as ws:
        await ws.send(json.dumps(setup))
        first = await ws.recv()
    assert "setupComplete" in json.loads(first)
    stats = (await emulator.wait_closed_sessions())[0]
    assert stats.vertex and stats.close_side == "client"


async def test_ephemeral_token_on_the_constrained_method(emulator: Emulator) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = genai.Client(
            api_key="auth_tokens/abc123",
            http_options=types.HttpOptions(
                base_url=emulator.base_url,
                api_version="v1alpha",
                async_client_args={"ssl": emulator.ssl_context()},
            ),
        )
        async with client.aio.live.connect(model=MODEL) as session:
            assert session is not None
    assert emulator.sessions[-1].path.endswith("BidiGenerateContentConstrained")
    assert emulator.sessions[-1].setup_complete


async def test_unknown_path_closes_after_the_upgrade(emulator: Emulator) -> None:
    async with raw(emulator, "/ws/nothing.here") as ws:
        code, reason = await expect_close(ws)
    assert (code, reason) == (1008, "Method not found.")


# --------------------------------------------------------------------------- auth


async def test_key_in_the_query_string(emulator: Emulator) -> None:
    path = GEMINI_PATH.format(v="v1beta") + f"?key={emulator.api_key}"
    async with raw(emulator, path, headers={}) as ws:
        await ws.send(SETUP)
        first = await ws.recv()
    assert "setupComplete" in json.loads(first)


async def test_wrong_key_closes_1007(emulator: Emulator) -> None:
    client = genai.Client(
        api_key="wrong-key",
        http_options=types.HttpOptions(
            base_url=emulator.base_url, async_client_args={"ssl": emulator.ssl_context()}
        ),
    )
    with pytest.raises(errors.APIError) as info:
        async with client.aio.live.connect(model=MODEL):
            pass
    assert info.value.code == 1007
    assert info.value.details == "API key not valid. Please pass a valid API key."
    assert "wrong-key" not in (emulator.sessions[-1].close_reason or "")


async def test_wrong_key_in_the_query_closes_1007(emulator: Emulator) -> None:
    path = GEMINI_PATH.format(v="v1beta") + "?key=nope"
    async with raw(emulator, path, headers={}) as ws:
        await ws.send(SETUP)
        code, _ = await expect_close(ws)
    assert code == 1007


async def test_no_key_closes_1008(emulator: Emulator) -> None:
    async with raw(emulator, headers={}) as ws:
        await ws.send(SETUP)
        code, reason = await expect_close(ws)
    assert code == 1008
    assert reason.startswith("Method doesn't allow unregistered callers")
    assert len(reason.encode()) == 123


async def test_unknown_model_closes_1008(emulator: Emulator) -> None:
    with pytest.raises(errors.APIError) as info:
        async with emulator.client().aio.live.connect(model="gemini-nope-live"):
            pass
    assert info.value.code == 1008
    assert info.value.details.startswith("models/gemini-nope-live is not found")
    assert len(info.value.details.encode()) <= 123


# --------------------------------------------------------------------------- setup rules


async def test_unknown_setup_field_closes_1007(emulator: Emulator) -> None:
    async with raw(emulator) as ws:
        await ws.send(json.dumps({"setup": {"model": f"models/{MODEL}", "bogusField": 1}}))
        code, reason = await expect_close(ws)
    assert code == 1007
    assert reason == (
        "Invalid JSON payload received. Unknown name \"bogusField\" at 'setup': Cannot find field."
    )


@pytest.mark.parametrize(
    "first",
    [
        {"realtime_input": {"audio": {"data": "AAAA", "mime_type": "audio/pcm;rate=16000"}}},
        {"client_content": {"turnComplete": True}},
        {"realtimeInput": {"text": "hi"}},
    ],
)
async def test_anything_before_setup_closes_1007(emulator: Emulator, first: dict) -> None:
    async with raw(emulator) as ws:
        await ws.send(json.dumps(first))
        code, reason = await expect_close(ws)
    assert (code, reason) == (1007, "Request contains an invalid argument.")


async def test_a_second_setup_closes_1007(emulator: Emulator) -> None:
    async with raw(emulator) as ws:
        await ws.send(SETUP)
        assert "setupComplete" in json.loads(await ws.recv())
        await ws.send(SETUP)
        code, _ = await expect_close(ws)
    assert code == 1007


@pytest.mark.parametrize("spelling", ["camel", "snake"])
async def test_camel_and_snake_setups_are_both_accepted(emulator: Emulator, spelling: str) -> None:
    if spelling == "camel":
        setup = {
            "setup": {
                "model": f"models/{MODEL}",
                "generationConfig": {"responseModalities": ["AUDIO"]},
                "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
                "inputAudioTranscription": {},
            }
        }
    else:
        setup = {
            "setup": {
                "model": f"models/{MODEL}",
                "generation_config": {"response_modalities": ["audio"]},
                "realtime_input_config": {"automatic_activity_detection": {"disabled": True}},
                "input_audio_transcription": {},
            }
        }
    async with raw(emulator) as ws:
        await ws.send(json.dumps(setup))
        assert "setupComplete" in json.loads(await ws.recv())


# --------------------------------------------------------------------------- frames


async def test_server_frames_are_binary_camel_case_and_setup_complete_first(
    emulator: Emulator,
) -> None:
    frames: list[bytes | str] = []
    async with raw(emulator) as ws:
        await ws.send(SETUP)
        frames.append(await ws.recv())
        await ws.send(TEXT_TURN)
        for _ in range(2000):
            frame = await ws.recv()
            frames.append(frame)
            if json.loads(frame).get("serverContent", {}).get("turnComplete"):
                break
    assert all(isinstance(f, bytes) for f in frames), "every server frame must be BINARY"
    decoded = [json.loads(f) for f in frames]
    assert "setupComplete" in decoded[0]
    assert decoded[-1]["serverContent"]["turnComplete"] is True
    for msg in decoded:
        assert set(msg) <= SERVER_TOP_LEVEL_KEYS, msg.keys()
    assert all(len(f) < 2**20 for f in frames)
    audio = [
        p["inlineData"]
        for m in decoded
        for p in m.get("serverContent", {}).get("modelTurn", {}).get("parts", [])
        if "inlineData" in p
    ]
    assert audio, "the healthy model answers with audio"
    assert all(a["mimeType"] == "audio/pcm;rate=24000" for a in audio)


async def test_both_base64_alphabets_reach_the_model_as_the_same_audio(emulator: Emulator):
    pcm = bytes(range(256)) * 2 + b"\xff\xfb\xfe\xff"
    variants = [
        base64.b64encode(pcm).decode(),
        base64.b64encode(pcm).decode().rstrip("="),
        base64.urlsafe_b64encode(pcm).decode(),
        base64.urlsafe_b64encode(pcm).decode().rstrip("="),
    ]
    async with raw(emulator) as ws:
        await ws.send(SETUP)
        await ws.recv()
        for data in variants:
            await ws.send(
                json.dumps(
                    {
                        "realtime_input": {
                            "audio": {"data": data, "mime_type": "audio/pcm;rate=16000"}
                        }
                    }
                )
            )
        await ws.send(
            json.dumps({"realtimeInput": {"audio": {"data": variants[0], "mimeType": "audio/pcm"}}})
        )
    stats = (await emulator.wait_closed_sessions())[0]
    assert stats.error is None
    assert stats.audio_frames_received == 5
    assert stats.audio_bytes_received == 5 * len(pcm)


async def test_pings_are_answered(emulator: Emulator) -> None:
    async with raw(emulator) as ws:
        await ws.send(SETUP)
        await ws.recv()
        latency = await (await ws.ping(b"keepalive"))
        assert latency >= 0
    assert emulator.sessions[-1].pings_received == 1
    assert emulator.sessions[-1].pongs_dropped == 0
