"""The emulated model, sans I/O: setup, turns from audio/text/clientContent, replies, usage."""

from __future__ import annotations

import pytest
from model_harness import Harness, audio, content, greet, realtime, speech_pcm, text

from liveguard.audio.clips import clip_text, load_clip
from liveguard.emulator.model import CloseConnection, SendFrame, unknown_model_reason
from liveguard.emulator.scenario import KNOWN_MODELS, is_known_model


def test_setup_complete_is_the_first_frame():
    h = Harness.of("healthy")
    got = h.connect()
    assert [s.payload for s in got] == [{"setupComplete": {}}]


@pytest.mark.parametrize(
    "model",
    [
        "models/gemini-2.5-flash-native-audio-preview-12-2025",
        "gemini-3.8-live",
        "models/gemini-3.8-live-extended-thinking",
        "models/gemini-3.1-flash-live-preview",
        "publishers/google/models/gemini-3.8-live",
        "publishers/google/models/gemini-live-2.5-flash-native-audio",
        "projects/p/locations/us-central1/publishers/google/models/gemini-live-2.5-flash-native-audio",
    ],
)
def test_known_models_are_accepted(model):
    assert is_known_model(model)
    h = Harness.of("healthy")
    assert h.connect(model=model)[0].payload == {"setupComplete": {}}


def test_known_models_set_has_every_prefix():
    for bare in ("gemini-3.8-live", "gemini-2.5-flash-native-audio-preview-12-2025"):
        assert {bare, f"models/{bare}"} <= KNOWN_MODELS
    for bare in ("gemini-3.8-live", "gemini-live-2.5-flash-native-audio"):
        assert f"publishers/google/models/{bare}" in KNOWN_MODELS


def test_unknown_model_closes_1008_with_the_service_reason_truncated():
    h = Harness.of("healthy")
    got = h.connect(model="models/gemini-nope-live")
    assert len(got) == 1 and isinstance(got[0].out, CloseConnection)
    close = got[0].out
    assert close.code == 1008
    assert close.reason.startswith(
        "models/gemini-nope-live is not found for API version v1beta, or is not supported for "
        "bidiGenerateContent. Call ModelService"
    )
    assert len(close.reason.encode()) <= 123
    assert close.reason == unknown_model_reason("models/gemini-nope-live")
    assert h.session.next_deadline() is None


def test_greeting_prompt_gets_spoken_greeting_paced_to_playback():
    h = Harness.of("healthy")
    h.connect()
    greet(h)
    (turn,) = h.turns()
    audio_frames = [s for s in turn if s.is_audio]
    pcm = b"".join(s.content["modelTurn"]["parts"][0]["inlineData"]["data"] for s in audio_frames)
    greeting = load_clip("greeting", 24000)
    assert pcm == greeting.pcm
    for s in audio_frames:
        inline = s.content["modelTurn"]["parts"][0]["inlineData"]
        assert inline["mimeType"] == "audio/pcm;rate=24000"
        assert 0.02 <= len(inline["data"]) / 48000 <= 0.1  # 20-100 ms frames
    gen_done = next(s for s in turn if s.content.get("generationComplete"))
    done = turn[-1]
    assert done.content == {"turnComplete": True}
    assert gen_done.t < done.t
    first = audio_frames[0].t
    # sent faster than real time, but turnComplete about when playback would end
    assert audio_frames[-1].t - first < greeting.seconds / 2
    assert done.t == pytest.approx(first + greeting.seconds, abs=0.05)
    assert h.output_text() == clip_text("greeting")


def test_usage_metadata_counts_about_25_tokens_per_audio_second():
    h = Harness.of("healthy")
    h.connect()
    greet(h)
    done = h.turns()[0][-1]
    usage = done.payload["usageMetadata"]
    seconds = load_clip("greeting", 24000).seconds
    assert usage["responseTokenCount"] == round(seconds * 25)
    assert usage["responseTokensDetails"] == [
        {"modality": "AUDIO", "tokenCount": round(seconds * 25)}
    ]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["responseTokenCount"]
    assert usage["promptTokenCount"] > 0


def test_audio_turn_is_transcribed_with_clip_text_and_answered():
    h = Harness.of("healthy")
    h.connect()
    greet(h)
    mark = h.mark()
    h.say("check_order")
    h.run(6.0)
    assert h.input_text(mark) == clip_text("check_order")
    # incremental fragments, not one blob
    assert len(h.content_with("inputTranscription", mark)) > 1
    turn = h.turns(mark)[0]
    assert any(s.is_audio for s in turn)
    assert h.output_text(mark) == clip_text("ask_order_number")
    assert h.session.stats.transcripts == [clip_text("check_order")]
    # the prompt now holds the caller's audio
    usage = turn[-1].payload["usageMetadata"]
    assert {"modality": "AUDIO", "tokenCount": pytest.approx(0, abs=10**6)} in [
        {**d, "tokenCount": pytest.approx(0, abs=10**6)} for d in usage["promptTokensDetails"]
    ]


def test_transcription_only_when_enabled():
    h = Harness.of("healthy")
    h.connect(input_audio_transcription=None, output_audio_transcription=None)
    greet(h)
    h.say("check_order")
    h.run(6.0)
    assert h.content_with("inputTranscription") == []
    assert h.content_with("outputTranscription") == []
    assert len(h.turns()) == 2 and h.audio_frames()


def test_unknown_speech_gets_placeholder_transcript():
    import numpy as np

    rng = np.random.default_rng(7)
    t = np.arange(32000) / 16000
    tone = (8000 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(
        "<i2"
    )
    noise = rng.normal(0, 50, 32000).astype("<i2")
    h = Harness.of("healthy")
    h.connect()
    greet(h)
    mark = h.mark()
    h.stream(bytes(16000) + (tone + noise).tobytes() + bytes(48000))
    h.run(6.0)
    assert h.input_text(mark) == "[speech]"
    assert h.audio_frames(mark)


def test_realtime_text_starts_a_turn_without_input_transcription():
    h = Harness.of("healthy")
    h.connect()
    greet(h)
    mark = h.mark()
    h.send(text("Thanks, that's all."))
    h.run(6.0)
    assert h.content_with("inputTranscription", mark) == []
    assert h.output_text(mark) == clip_text("goodbye")
    assert h.session.stats.text_inputs == 1


def test_client_content_without_turn_complete_buffers_then_answers():
    h = Harness.of("healthy")
    h.connect()
    h.send(
        content(
            turns=[
                {"role": "user", "parts": [{"text": "Hi, I'd like to check my order status."}]},
                {"role": "model", "parts": [{"text": "Sure, what is your order number?"}]},
                {"role": "user", "parts": [{"text": "Yes, my order number is four five six."}]},
            ],
            turn_complete=False,
        )
    )
    h.run(5.0)
    assert h.frames()[1:] == []  # nothing generated yet
    h.send(content(None, turn_complete=True))
    h.run(8.0)
    # seeded history: no greeting, the last caller words are answered
    assert h.output_text() == clip_text("order_shipped")
    assert h.session.stats.model_turns == 1


def test_history_is_kept_repeat_replays_previous_answer():
    h = Harness.of("healthy")
    h.connect()
    greet(h)
    h.send(text("Yes, my order number is four five six."))
    h.run(8.0)
    mark = h.mark()
    h.send(text("Sorry, could you repeat that?"))
    h.run(8.0)
    assert h.output_text(mark) == clip_text("order_shipped")


def test_text_modality_sends_text_parts_and_no_audio():
    h = Harness.of("healthy")
    h.connect(generation_config={"response_modalities": ["TEXT"]})
    greet(h)
    parts = [s.content["modelTurn"]["parts"][0] for s in h.content_with("modelTurn")]
    assert parts and all("text" in p for p in parts)
    assert "".join(p["text"] for p in parts) == clip_text("greeting")
    assert h.audio_frames() == []
    usage = h.turns()[0][-1].payload["usageMetadata"]
    assert usage["responseTokensDetails"][0]["modality"] == "TEXT"


def test_frames_received_and_audio_counters_match_what_was_sent():
    h = Harness.of("healthy")
    h.connect()
    pcm = speech_pcm("thanks_bye")
    h.stream(pcm)
    frames = (len(pcm) + 639) // 640
    stats = h.session.stats
    assert stats.audio_frames_received == frames
    assert stats.audio_bytes_received == len(pcm)
    assert stats.frames_received == frames + 1  # + setup


def test_video_and_context_updates_are_accepted_silently():
    from liveguard.emulator.wire import ClientMessage

    h = Harness.of("healthy")
    h.connect()
    assert h.send(realtime(video={"data": b"\xff\xd8", "mime_type": "image/jpeg"})) == []
    upd = ClientMessage("context_update", {"system_instruction": {"parts": [{"text": "x"}]}})
    assert h.send(upd) == []
    assert not h.closes()


def test_same_scenario_same_outputs_every_run():
    def run() -> list:
        h = Harness.of("healthy")
        h.connect()
        greet(h)
        h.say("check_order")
        h.run(6.0)
        h.send(text("What time do you close today?"))
        h.run(6.0)
        return [(round(s.t, 9), s.out) for s in h.log]

    assert run() == run()


def test_audio_at_other_rate_is_understood():
    from liveguard.audio.clips import resample_pcm16

    h = Harness.of("healthy")
    h.connect()
    greet(h)
    mark = h.mark()
    pcm24 = resample_pcm16(speech_pcm("thanks_bye"), 16000, 24000)
    t = h.now
    for i in range(0, len(pcm24), 960):
        h.send(audio(pcm24[i : i + 960], rate=24000), t)
        t += 0.02
    h.run(6.0)
    assert h.input_text(mark) == clip_text("thanks_bye")


def test_outputs_are_only_send_or_close():
    h = Harness.of("healthy")
    h.connect()
    greet(h)
    assert all(isinstance(s.out, SendFrame | CloseConnection) for s in h.log)
    for s in h.frames():
        assert len([k for k in s.payload if k != "usageMetadata"]) == 1
