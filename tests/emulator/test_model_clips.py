"""The shipped clips (the emulated model's voice and ears): loading, resampling, recognition."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from liveguard.audio import mulaw
from liveguard.audio.clips import (
    Clip,
    clip_text,
    identify_utterance,
    load_clip,
    reply_names,
    resample_pcm16,
    utterance_names,
)

ROOT = Path(__file__).resolve().parents[2]
CLIPS = ROOT / "src/liveguard/audio/data/clips"


def test_manifest_lists_utterances_and_replies():
    assert len(utterance_names()) >= 8
    assert "greeting" in reply_names() and len(reply_names()) >= 6
    assert clip_text("order_number") == "Yes, my order number is four five six."
    with pytest.raises(KeyError, match="unknown clip"):
        clip_text("nope")


def test_originals_have_the_documented_rates_and_are_trimmed():
    for name in utterance_names():
        clip = load_clip(name, 16000)
        assert isinstance(clip, Clip) and clip.rate == 16000
        assert 0.8 < clip.seconds < 4.0
        edge = clip.samples[:160].astype(np.float64)
        assert np.sqrt(np.mean(edge**2)) < 200  # starts (nearly) silent: trimmed, 30 ms pad
    for name in reply_names():
        assert load_clip(name, 24000).rate == 24000


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
def test_load_clip_converts_rate_and_keeps_duration_and_level(rate):
    base = load_clip("check_order", 16000)
    clip = load_clip("check_order", rate)
    assert clip.rate == rate
    assert clip.seconds == pytest.approx(base.seconds, abs=0.001)
    rms = lambda c: float(np.sqrt(np.mean(c.samples.astype(np.float64) ** 2)))  # noqa: E731
    assert rms(clip) == pytest.approx(rms(base), rel=0.15)
    assert load_clip("check_order", rate) is clip  # cached


def test_resampling_keeps_a_tone_and_removes_what_cannot_be_represented():
    t = np.arange(16000) / 16000
    tone = (10000 * np.sin(2 * np.pi * 1000 * t)).astype("<i2").tobytes()
    high = (10000 * np.sin(2 * np.pi * 6000 * t)).astype("<i2").tobytes()
    up = np.frombuffer(resample_pcm16(tone, 16000, 24000), "<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(up[2400:-2400]))
    freqs = np.fft.rfftfreq(len(up) - 4800, 1 / 24000)
    assert abs(freqs[np.argmax(spectrum)] - 1000) < 5
    down = np.frombuffer(resample_pcm16(high, 16000, 8000), "<i2").astype(np.float64)
    assert np.sqrt(np.mean(down[800:-800] ** 2)) < 100  # 6 kHz is above 4 kHz Nyquist: removed


@pytest.mark.parametrize("name", utterance_names())
def test_identify_shipped_utterance_clean_and_after_phone_round_trip(name):
    assert identify_utterance(load_clip(name).pcm) == name
    # μ-law 8 kHz (Twilio) and back to 16 kHz, quieter, with line noise and silence around it
    phone = mulaw.decode(mulaw.encode(load_clip(name, 8000).pcm))
    pcm16 = np.frombuffer(resample_pcm16(phone, 8000, 16000), "<i2").astype(np.float64)
    rng = np.random.default_rng(sum(name.encode()))
    noisy = pcm16 * 0.4 + rng.normal(0, 25, len(pcm16))
    pad = np.zeros(8000)
    audio = np.concatenate([pad, noisy, pad, pad]).astype("<i2").tobytes()
    assert identify_utterance(audio) == name


def test_identify_after_the_relays_streaming_resampler():
    from liveguard.audio.resample import Resampler

    r = Resampler(8000, 16000)
    phone = mulaw.decode(mulaw.encode(load_clip("transfer_billing", 8000).pcm)) + bytes(3200)
    out = b"".join(r.process(phone[i : i + 320]) for i in range(0, len(phone), 320))
    assert identify_utterance(out) == "transfer_billing"


def test_identify_rejects_everything_else():
    rng = np.random.default_rng(1)
    assert identify_utterance(b"") is None
    assert identify_utterance(b"\x01") is None
    assert identify_utterance(bytes(32000)) is None
    assert identify_utterance(rng.normal(0, 3000, 32000).astype("<i2").tobytes()) is None
    for name in reply_names():  # other speech, same renderer
        assert identify_utterance(load_clip(name, 16000).pcm) is None
    two = load_clip("thanks_bye").pcm + bytes(3200) + load_clip("still_there").pcm
    assert identify_utterance(two) is None


def test_identify_rejects_other_espeak_sentences(tmp_path: Path):
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng/sox not installed")
    wav = tmp_path / "x.wav"
    for sentence in ("I would like to speak to a manager.", "Is my package delayed?"):
        subprocess.run(
            f"espeak-ng -v en-us+m3 -s 165 --stdout '{sentence}' | sox -D -t wav - -r 16000 {wav}",
            shell=True,
            check=True,
        )
        import wave

        with wave.open(str(wav)) as w:
            pcm = w.readframes(w.getnframes())
        assert identify_utterance(pcm) is None


def test_render_clips_is_deterministic_and_matches_the_shipped_files(tmp_path: Path):
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng/sox not installed")
    subprocess.run(
        [str(ROOT / "scripts/render-clips"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    shipped = json.loads((CLIPS / "manifest.json").read_text())
    assert json.loads((tmp_path / "manifest.json").read_text()) == shipped
    for name in shipped:
        assert (tmp_path / f"{name}.wav").read_bytes() == (CLIPS / f"{name}.wav").read_bytes(), name


def test_shipped_clips_stay_small():
    total = sum(p.stat().st_size for p in CLIPS.iterdir())
    assert total < 1_300_000
