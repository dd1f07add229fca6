"""Server-side activity detection, barge-in, NO_INTERRUPTION, manual activity, audioStreamEnd."""

from __future__ import annotations

import numpy as np
import pytest
from model_harness import Harness, content, greet, realtime, speech_pcm

from liveguard.audio import mulaw
from liveguard.audio.clips import clip_text, load_clip, resample_pcm16, utterance_names
from liveguard.emulator.activity import ActivityDetector, VadConfig, parse_pcm_rate


def _feed(detector: ActivityDetector, pcm: bytes, frame: int = 640) -> list:
    events = []
    for i in range(0, len(pcm), frame):
        events += detector.feed(pcm[i : i + frame])
    return events


@pytest.mark.parametrize("name", utterance_names())
def test_each_utterance_is_exactly_one_activity(name):
    events = _feed(ActivityDetector(VadConfig()), speech_pcm(name, 1.0, 1.5))
    assert [e.kind for e in events] == ["start", "end"]
    seconds = load_clip(name).seconds
    assert events[0].offset_s == pytest.approx(1.0, abs=0.1)
    assert events[1].offset_s - events[0].offset_s == pytest.approx(seconds, abs=0.15)


def test_chunk_size_does_not_change_boundaries():
    pcm = speech_pcm("check_order", 1.0, 1.5)
    small = _feed(ActivityDetector(VadConfig()), pcm, 640)
    big = _feed(ActivityDetector(VadConfig()), pcm, 3200)
    odd = _feed(ActivityDetector(VadConfig()), pcm, 1002)
    assert [(e.kind, round(e.offset_s, 2)) for e in small] == [
        (e.kind, round(e.offset_s, 2)) for e in big
    ]
    assert [e.kind for e in odd] == ["start", "end"]


def test_digital_silence_shortcut_tracks_the_floor_like_the_general_path():
    # speech, digital silence, speech: the 20 ms hot path (with its all-zero shortcut) and the
    # general path (3200-byte chunks) must agree on the noise floor and every boundary
    pcm = speech_pcm("check_order", 0.5, 2.0) + speech_pcm("order_number", 0.3, 1.0)
    hot, general = ActivityDetector(VadConfig()), ActivityDetector(VadConfig())
    assert [(e.kind, round(e.offset_s, 3)) for e in _feed(hot, pcm, 640)] == [
        (e.kind, round(e.offset_s, 3)) for e in _feed(general, pcm, 3200)
    ]
    assert hot._floor_db == pytest.approx(general._floor_db)


def test_silence_and_quiet_noise_are_not_activity():
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 40, 16000 * 5).astype("<i2").tobytes()  # about -58 dBFS
    assert _feed(ActivityDetector(VadConfig()), bytes(16000 * 10)) == []
    assert _feed(ActivityDetector(VadConfig()), noise) == []


def test_start_sensitivity_low_ignores_quiet_speech_that_high_detects():
    quiet = (load_clip("still_there").samples.astype(np.float64) * 0.05).astype("<i2").tobytes()
    pcm = bytes(16000) + quiet + bytes(48000)
    high = _feed(ActivityDetector(VadConfig(start_sensitivity="START_SENSITIVITY_HIGH")), pcm)
    low = _feed(ActivityDetector(VadConfig(start_sensitivity="START_SENSITIVITY_LOW")), pcm)
    assert [e.kind for e in high] == ["start", "end"]
    assert low == []


def test_prefix_padding_delays_start_and_ignores_short_clicks():
    click = (np.ones(1600) * 8000).astype("<i2").tobytes()  # 100 ms burst
    pcm = bytes(16000) + click + bytes(32000)
    assert [e.kind for e in _feed(ActivityDetector(VadConfig(prefix_padding_ms=20)), pcm)] == [
        "start",
        "end",
    ]
    assert _feed(ActivityDetector(VadConfig(prefix_padding_ms=300)), pcm) == []


def test_silence_duration_controls_end_of_turn():
    two = (
        speech_pcm("thanks_bye", 0.5, 0.0)
        + bytes(int(0.8 * 32000))
        + speech_pcm("thanks_bye", 0, 2.0)
    )
    short = _feed(ActivityDetector(VadConfig(silence_duration_ms=300)), two)
    long = _feed(ActivityDetector(VadConfig(silence_duration_ms=1200)), two)
    assert [e.kind for e in short] == ["start", "end", "start", "end"]
    assert [e.kind for e in long] == ["start", "end"]


def test_mulaw_phone_audio_is_detected_and_recognised():
    from liveguard.audio.clips import identify_utterance

    pcm8 = mulaw.decode(mulaw.encode(load_clip("order_number", 8000).pcm))
    pcm16 = bytes(16000) + resample_pcm16(pcm8, 8000, 16000) + bytes(48000)
    events = _feed(ActivityDetector(VadConfig()), pcm16)
    assert [e.kind for e in events] == ["start", "end"]
    assert identify_utterance(pcm16) == "order_number"


def test_vad_config_from_setup_maps_the_incident_settings():
    cfg = VadConfig.from_setup(
        {
            "automatic_activity_detection": {
                "start_of_speech_sensitivity": "START_SENSITIVITY_HIGH",
                "end_of_speech_sensitivity": "END_SENSITIVITY_LOW",
                "prefix_padding_ms": 200,
                "silence_duration_ms": 1200,
            },
            "activity_handling": "NO_INTERRUPTION",
        }
    )
    assert cfg == VadConfig(
        start_sensitivity="START_SENSITIVITY_HIGH",
        end_sensitivity="END_SENSITIVITY_LOW",
        prefix_padding_ms=200,
        silence_duration_ms=1200,
        activity_handling="NO_INTERRUPTION",
    )
    assert not cfg.interrupts
    assert VadConfig.from_setup(None).interrupts


def test_parse_pcm_rate():
    assert parse_pcm_rate("audio/pcm;rate=24000") == 24000
    assert parse_pcm_rate("audio/pcm; rate=8000") == 8000
    assert parse_pcm_rate("audio/pcm") == 16000
    assert parse_pcm_rate("audio/pcm;rate=abc") == 16000


# ---------------------------------------------------------------- in the model


def test_barge_in_interrupts_then_turn_complete_without_generation_complete():
    h = Harness.of("healthy")
    h.connect()
    h.send(content("Greet the caller."))
    # wait for the first audio, then speak over it
    while not h.audio_frames():
        h.advance(h.now + 0.05)
    mark = h.mark()
    h.say("still_there", lead_s=0.0)
    h.run(8.0)
    after = h.frames()[mark:]
    keys = [
        "interrupted"
        if s.content.get("interrupted")
        else "turnComplete"
        if s.content.get("turnComplete")
        else "generationComplete"
        if s.content.get("generationComplete")
        else None
        for s in after
    ]
    keys = [k for k in keys if k]
    assert keys[:2] == ["interrupted", "turnComplete"]
    # the interrupted turn never said generationComplete; the next answer does
    assert keys[2:] == ["generationComplete", "turnComplete"]
    assert h.session.stats.interrupts_sent == 1
    assert h.output_text(mark).endswith(clip_text("still_here"))


def test_no_interruption_lets_the_answer_finish_then_answers_the_new_turn():
    h = Harness.of("healthy")
    h.connect(realtime_input_config={"activity_handling": "NO_INTERRUPTION"})
    h.send(content("Greet the caller."))
    while not h.audio_frames():
        h.advance(h.now + 0.05)
    h.say("still_there", lead_s=0.0)
    h.run(10.0)
    assert not any(s.content.get("interrupted") for s in h.frames())
    turns = h.turns()
    assert len(turns) == 2
    pcm = b"".join(
        s.content["modelTurn"]["parts"][0]["inlineData"]["data"] for s in turns[0] if s.is_audio
    )
    assert pcm == load_clip("greeting", 24000).pcm  # the greeting played out in full
    assert any(s.is_audio for s in turns[1])


def test_barge_in_during_tool_call_cancels_it():
    h = Harness.of("tool-call")
    h.connect(tools=[{"function_declarations": [{"name": "lookup_order"}]}])
    greet(h)
    h.say("order_number")
    h.run(2.0)
    (call,) = h.with_key("toolCall")
    call_id = call.payload["toolCall"]["functionCalls"][0]["id"]
    mark = h.mark()
    h.say("still_there", lead_s=0.0)
    h.run(6.0)
    after = h.frames()[mark:]
    cancel = [s for s in after if "toolCallCancellation" in s.payload]
    assert [c.payload["toolCallCancellation"]["ids"] for c in cancel] == [[call_id]]
    assert h.session.stats.tool_call_cancellations == 1


def test_manual_activity_ignores_audio_outside_activity():
    h = Harness.of("healthy")
    h.connect(realtime_input_config={"automatic_activity_detection": {"disabled": True}})
    greet(h)
    mark = h.mark()
    h.say("check_order")  # no activityStart: ignored for turns
    h.run(5.0)
    assert h.frames()[mark:] == []
    assert h.session.stats.audio_frames_ignored > 0
    h.send(realtime(activity_start={}))
    h.say("check_order", lead_s=0.1, tail_s=0.1)
    h.send(realtime(activity_end={}))
    h.run(6.0)
    assert h.input_text(mark) == clip_text("check_order")
    assert h.output_text(mark) == clip_text("ask_order_number")


def test_manual_activity_start_barges_in():
    h = Harness.of("healthy")
    h.connect(realtime_input_config={"automatic_activity_detection": {"disabled": True}})
    h.send(content("Greet the caller."))
    while not h.audio_frames():
        h.advance(h.now + 0.05)
    got = h.send(realtime(activity_start={}))
    assert [s.content for s in got][:2] == [{"interrupted": True}, {"turnComplete": True}]


def test_empty_manual_activity_closes_1007_precondition():
    h = Harness.of("healthy")
    h.connect(realtime_input_config={"automatic_activity_detection": {"disabled": True}})
    h.send(realtime(activity_start={}))
    got = h.send(realtime(activity_end={}))
    assert got[0].payload == {"serverContent": {"turnComplete": True}, "usageMetadata": {}}
    assert (got[-1].out.code, got[-1].out.reason) == (1007, "Precondition check failed.")


def test_nested_activity_start_is_ignored():
    h = Harness.of("healthy")
    h.connect(realtime_input_config={"automatic_activity_detection": {"disabled": True}})
    h.send(realtime(activity_start={}))
    h.send(realtime(activity_start={}))
    h.say("thanks_bye", lead_s=0.0, tail_s=0.1)
    h.send(realtime(activity_end={}))
    h.run(6.0)
    assert h.session.stats.activity_starts == 1
    assert h.session.stats.user_turns == 1


def test_audio_stream_end_flushes_an_open_turn():
    h = Harness.of("healthy")
    h.connect()
    greet(h)
    mark = h.mark()
    h.say("transfer_billing", tail_s=0.1)  # stream stops before the silence timeout
    h.run(3.0)
    assert h.content_with("inputTranscription", mark) == []
    h.send(realtime(audio_stream_end=True))
    h.run(6.0)
    assert h.input_text(mark) == clip_text("transfer_billing")
    assert h.output_text(mark) == clip_text("transfer")


def test_voice_activity_events_when_the_scenario_asks():
    h = Harness.of("name: va\nmodel: {voice_activity_events: true}\n")
    h.connect()
    h.say("thanks_bye", lead_s=1.0)
    kinds = [s.payload["voiceActivity"]["type"] for s in h.with_key("voiceActivity")]
    assert kinds == ["ACTIVITY_START", "ACTIVITY_END"]
    start = h.with_key("voiceActivity")[0].payload["voiceActivity"]["audioOffset"]
    assert start.endswith("s") and float(start[:-1]) == pytest.approx(1.0, abs=0.1)
