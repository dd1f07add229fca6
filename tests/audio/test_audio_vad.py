"""Silero VAD and SpeechDetector on real speech (espeak-ng) and real noise; no mocks."""

from __future__ import annotations

import threading
import zlib

import numpy as np
import pytest

from liveguard.audio import mulaw, vad
from liveguard.audio.resample import Resampler
from liveguard.audio.vad import SileroStream, SpeechDetector, SpeechTransition, get_session
from liveguard.config.settings import VadSettings

LEAD_S, GAP_S, TAIL_S = 1.0, 1.5, 1.0
HANGOVER_MS = 400


def to_8k_ulaw_round_trip(pcm16k: bytes) -> bytes:
    """16 kHz PCM -> 8 kHz -> μ-law -> PCM: what the phone leg delivers."""
    return mulaw.decode(mulaw.encode(Resampler(16000, 8000).process(pcm16k)))


def timeline(utterances, rate: int) -> tuple[bytes, list[tuple[float, float]]]:
    """lead silence, utterance, gap, utterance, tail; and the true (start, end) of each."""
    parts, truth, t = [bytes(int(LEAD_S * 16000) * 2)], [], LEAD_S
    for i, u in enumerate(utterances):
        parts.append(u.pcm)
        truth.append((t, t + u.seconds))
        t += u.seconds
        gap = GAP_S if i < len(utterances) - 1 else TAIL_S
        parts.append(bytes(int(gap * 16000) * 2))
        t += gap
    pcm = b"".join(parts)
    return (pcm if rate == 16000 else to_8k_ulaw_round_trip(pcm)), truth


def run(det: SpeechDetector, pcm: bytes, frame_ms: int = 20) -> list[SpeechTransition]:
    n = det.vad.sample_rate * frame_ms // 1000 * 2
    out = [ev for i in range(0, len(pcm), n) for ev in det.feed(pcm[i : i + n])]
    return out + det.flush()


def detector(rate: int) -> SpeechDetector:
    s = VadSettings(hangover_ms=HANGOVER_MS)
    return SpeechDetector(
        rate,
        threshold=s.threshold,
        neg_threshold=s.neg_threshold,
        start_windows=s.start_windows,
        hangover_ms=s.hangover_ms,
    )


@pytest.mark.parametrize("rate", [16000, 8000])
def test_real_speech_is_detected_near_the_truth(utterances, rate: int) -> None:
    pcm, truth = timeline([utterances["billing"], utterances["order"]], rate)
    events = run(detector(rate), pcm)
    assert [e.kind for e in events] == ["start", "end"] * len(truth), events
    for (true_start, true_end), start, end in zip(truth, events[::2], events[1::2], strict=True):
        # decided within 250 ms of the true onset (two 32 ms windows plus the model's reaction)
        assert true_start < start.t <= true_start + 0.25, (true_start, start)
        assert abs(start.speech_t - true_start) <= 0.15, (true_start, start)
        # the end is decided one hangover after the last speech window, which is near the truth
        assert -0.15 <= end.speech_t - true_end <= 0.25, (true_end, end)
        assert end.t - end.speech_t == pytest.approx(HANGOVER_MS / 1000, abs=0.033)
        assert end.duration_s == pytest.approx(true_end - true_start, abs=0.3)


@pytest.mark.parametrize("rate", [16000, 8000])
@pytest.mark.parametrize(
    "noise",
    ["digital-silence", "white-60dBFS", "white-30dBFS"],
)
def test_no_false_starts_on_noise(rate: int, noise: str) -> None:
    seconds = 8
    rng = np.random.default_rng(zlib.crc32(f"{rate}-{noise}".encode()))
    if noise == "digital-silence":
        x = np.zeros(rate * seconds, dtype="<i2")
    else:
        level = int(noise.split("-")[1].removesuffix("dBFS"))
        sigma = 32768 * 10 ** (level / 20)
        x = np.clip(np.round(rng.standard_normal(rate * seconds) * sigma), -32768, 32767)
        x = x.astype("<i2")
    pcm = x.tobytes() if rate == 16000 else mulaw.decode(mulaw.encode(x.tobytes()))
    det = detector(rate)
    assert run(det, pcm) == []
    assert det.time == pytest.approx(seconds, abs=0.033)


@pytest.mark.parametrize("cut_s", [0.3, 0.9, 1.6])
def test_flush_closes_a_segment_cut_off_by_the_end_of_the_stream(utterances, cut_s) -> None:
    u = utterances["billing"]
    pcm = bytes(16000) + u.pcm[: int(cut_s * 16000) * 2]  # 0.5 s silence, then cut mid-speech
    det = detector(16000)
    n = 640
    fed = [ev for i in range(0, len(pcm), n) for ev in det.feed(pcm[i : i + n])]
    assert [e.kind for e in fed] == ["start"]
    assert det.speaking
    closing = det.flush()
    assert [e.kind for e in closing] == ["end"]
    assert closing[0].t == pytest.approx(det.time) and not det.speaking
    assert det.flush() == []  # nothing left open, nothing reported twice


def test_flush_is_quiet_when_no_speech_is_open(utterances) -> None:
    det = detector(16000)
    pcm = bytes(16000) + utterances["order"].pcm + bytes(32000)
    events = run(det, pcm)
    assert [e.kind for e in events] == ["start", "end"]
    assert det.flush() == []


def test_streams_are_independent_when_interleaved(utterances) -> None:
    speech = bytes(16000) + utterances["billing"].pcm + bytes(16000)
    rng = np.random.default_rng(5)
    noise = (rng.standard_normal(len(speech) // 2) * 300).astype("<i2").tobytes()
    alone_a, alone_b = SileroStream(16000), SileroStream(16000)
    ref_a, ref_b = alone_a.feed(speech), alone_b.feed(noise)
    a, b = SileroStream(16000), SileroStream(16000)
    got_a, got_b = [], []
    for i in range(0, len(speech), 640):
        got_a += a.feed(speech[i : i + 640])
        got_b += b.feed(noise[i : i + 640])
    assert got_a == ref_a and got_b == ref_b
    assert max(got_a) > 0.9 and max(got_b) < 0.5  # the streams really differ


def test_streams_in_threads_match_sequential_results(utterances) -> None:
    pcms = [utterances["billing"].pcm, utterances["order"].pcm] * 2
    expected = [SileroStream(16000).feed(p) for p in pcms]
    results: list[list[float] | None] = [None] * len(pcms)

    def work(i: int) -> None:
        s = SileroStream(16000)
        results[i] = [p for k in range(0, len(pcms[i]), 640) for p in s.feed(pcms[i][k : k + 640])]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(pcms))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected


def test_one_shared_session_created_once_across_threads(monkeypatch) -> None:
    monkeypatch.setattr(vad, "_session", None)
    seen: list[object] = []
    barrier = threading.Barrier(6)

    def grab() -> None:
        barrier.wait()
        seen.append(get_session())

    threads = [threading.Thread(target=grab) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 6 and all(s is seen[0] for s in seen)
    opts = seen[0].get_session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_per_stream_state_is_small() -> None:
    s = SileroStream(8000)
    s.feed(bytes(200))  # leaves a partial window pending
    arrays = (s._state, s._state_out, s._input, s._out, s._buf, s._held, s._sr)
    assert s._state.nbytes == 1024  # the LSTM state
    assert sum(a.nbytes for a in arrays) < 6 * 1024  # with the gate's 3 held windows


def test_window_buffering_across_20ms_frames() -> None:
    s = SileroStream(8000)  # 256-sample windows, 160-sample frames
    counts = [len(s.feed(bytes(320))) for _ in range(8)]  # 8 × 160 = 1280 = 5 windows
    assert counts == [0, 1, 0, 1, 1, 0, 1, 1]
    assert s.buffered_samples == 0


def test_reset_forgets_the_stream(utterances) -> None:
    s = SileroStream(16000)
    first = s.feed(utterances["order"].pcm)
    s.feed(utterances["billing"].pcm[:1000])
    s.reset()
    assert s.feed(utterances["order"].pcm) == first


def test_audio_time_counts_samples_and_offset() -> None:
    det = SpeechDetector(16000, t0=12.5)
    det.feed(bytes(16000 * 2))  # one second
    assert det.time == pytest.approx(12.5 + 31 * 0.032)  # 31 full windows decided
    det.reset(t0=3.0)
    assert det.time == 3.0


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="8000 or 16000"):
        SileroStream(24000)
    with pytest.raises(ValueError, match="even number of bytes"):
        SileroStream(8000).feed(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="neg_threshold"):
        SpeechDetector(16000, threshold=0.3, neg_threshold=0.5)
    with pytest.raises(ValueError, match="start_windows"):
        SpeechDetector(16000, start_windows=0)
    with pytest.raises(ValueError, match="hangover_ms"):
        SpeechDetector(16000, hangover_ms=-1)


def test_every_shipped_utterance_is_one_segment_on_the_phone_leg() -> None:
    clips = pytest.importorskip("liveguard.audio.clips")
    names = clips.utterance_names()
    assert names
    for name in names:
        pcm = bytes(16000) + clips.load_clip(name, 16000).pcm + bytes(32000)
        events = run(detector(8000), to_8k_ulaw_round_trip(pcm))
        assert [e.kind for e in events] == ["start", "end"], (name, events)


def test_batched_detection_matches_one_stream_at_a_time(utterances) -> None:
    """Many calls' frames in one model call give the same decisions as each call alone."""
    speech = bytes(16000) + utterances["billing"].pcm + bytes(20000) + utterances["order"].pcm
    speech += bytes(24000)
    rng = np.random.default_rng(9)
    noise = (rng.standard_normal(len(speech) // 2) * 1000).astype("<i2").tobytes()
    streams16 = [speech, noise, speech[6400:] + bytes(6400)]  # the third is shifted by 0.2 s
    streams8 = [to_8k_ulaw_round_trip(p) for p in streams16]
    alone = [run(detector(16000), p) for p in streams16] + [
        run(detector(8000), p) for p in streams8
    ]
    dets = [detector(16000) for _ in streams16] + [detector(8000) for _ in streams8]
    got: list[list[SpeechTransition]] = [[] for _ in dets]
    for i in range(0, len(speech) // 2, 320):  # 20 ms ticks, mixed rates in one batch
        chunks = [p[2 * i : 2 * i + 640] for p in streams16] + [p[i : i + 320] for p in streams8]
        for k, evs in enumerate(vad.detect_batched(dets, chunks)):
            got[k] += evs
    got = [g + d.flush() for g, d in zip(got, dets, strict=True)]
    kinds = [[e.kind for e in evs] for evs in alone]
    assert kinds[0] == ["start", "end"] * 2 and kinds[1] == []  # speech found, noise ignored
    assert [[e.kind for e in evs] for evs in got] == kinds
    for a, b in zip(alone, got, strict=True):
        for x, y in zip(a, b, strict=True):
            assert x.t == pytest.approx(y.t) and x.speech_t == pytest.approx(y.speech_t)


def test_batch_refuses_the_same_stream_twice() -> None:
    s = SileroStream(8000)
    with pytest.raises(ValueError, match="twice"):
        vad.run_batched([s, s])
    with pytest.raises(ValueError, match="2 detectors but 1 chunks"):
        vad.detect_batched([detector(8000), detector(8000)], [b""])


def test_pushing_without_running_is_bounded() -> None:
    s = SileroStream(16000)
    s.push(bytes(2 * 16000 * 60))  # one minute is fine
    with pytest.raises(ValueError, match="pending"):
        s.push(bytes(2 * 16000 * 120))


def test_batches_larger_than_one_model_call_match_alone(utterances) -> None:
    speech = to_8k_ulaw_round_trip(utterances["order"].pcm[: 16000 * 2])  # 1 s at 8 kHz
    pcms = [speech[(k * 320) % 8000 :] for k in range(70)]  # 70 streams, staggered starts
    alone = [SileroStream(8000).feed(p) for p in pcms]
    streams = [SileroStream(8000) for _ in pcms]
    for s, p in zip(streams, pcms, strict=True):
        s.push(p)
    batched = vad.run_batched(streams)
    assert [len(b) for b in batched] == [len(a) for a in alone]
    for a, b in zip(alone, batched, strict=True):
        assert np.allclose(a, b, atol=1e-4)
    assert max(max(a) for a in alone) > 0.9


# --------------------------------------------------------------------------- energy gate


def quiet(seconds: float, rate: int, dbfs: float | None, seed: int = 0) -> bytes:
    """Digital silence (None) or white noise at `dbfs` RMS, as PCM16."""
    n = int(seconds * rate)
    if dbfs is None:
        return bytes(2 * n)
    x = np.random.default_rng(seed).standard_normal(n) * 32768 * 10 ** (dbfs / 20)
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def scaled(pcm: bytes, db: float) -> bytes:
    x = np.frombuffer(pcm, "<i2").astype(np.float64) * 10 ** (db / 20)
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def window_levels(pcm: bytes, window: int) -> np.ndarray:
    x = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768
    k = len(x) // window
    return 10 * np.log10((x[: k * window].reshape(k, window) ** 2).mean(axis=1) + 1e-20)


@pytest.mark.parametrize("dbfs", [None, -60.0])
def test_gated_windows_skip_the_model(dbfs) -> None:
    pcm = quiet(5.0, 8000, dbfs)
    det = detector(8000)
    assert run(det, pcm) == []
    total = det.vad.windows_run + det.vad.windows_skipped
    assert total == int(5.0 * 8000) // 256
    assert det.vad.windows_run == 0 and det.vad.windows_skipped == total
    ungated = SpeechDetector(8000, gate_dbfs=None)
    assert run(ungated, pcm) == [] and ungated.vad.windows_run == total


def test_noise_above_the_gate_still_runs_the_model_and_starts_nothing() -> None:
    det = detector(8000)
    assert run(det, mulaw.decode(mulaw.encode(quiet(5.0, 8000, -30.0, seed=4)))) == []
    assert det.vad.windows_skipped == 0 and det.vad.windows_run == int(5.0 * 8000) // 256


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("silence", [None, -60.0])
def test_speech_after_a_long_silence_has_the_ungated_onset(utterances, rate, silence) -> None:
    pcm = quiet(10.0, 16000, silence, seed=7) + utterances["order"].pcm + quiet(1.0, 16000, silence)
    pcm += utterances["billing"].pcm + quiet(1.0, 16000, silence, seed=8)
    if rate == 8000:
        pcm = to_8k_ulaw_round_trip(pcm)
    gated, ungated = detector(rate), SpeechDetector(rate, gate_dbfs=None)
    got, ref = run(gated, pcm), run(ungated, pcm)
    assert [e.kind for e in got] == [e.kind for e in ref] == ["start", "end"] * 2
    window = gated.vad.window / rate
    for g, r in zip(got[::2], ref[::2], strict=True):  # onsets: the same to one 32 ms window
        assert abs(g.speech_t - r.speech_t) <= window + 1e-9, (g, r)
        assert g.t <= r.t + window + 1e-9, (g, r)
    # and the model ran on well under half the windows (11 s of the 14 s are silence)
    assert gated.vad.windows_run < 0.5 * ungated.vad.windows_run


@pytest.mark.parametrize("rate", [8000, 16000])
def test_quiet_speech_just_above_the_gate_is_detected(utterances, rate) -> None:
    u = utterances["billing"]
    # scale so the median speech window sits about 3 dB above the gate
    median = float(np.median(window_levels(u.pcm, 512)))
    soft = scaled(u.pcm, vad.GATE_DBFS + 3.0 - median)
    assert np.median(window_levels(soft, 512)) == pytest.approx(vad.GATE_DBFS + 3.0, abs=0.5)
    pcm = quiet(2.0, 16000, None) + soft + quiet(1.0, 16000, None)
    if rate == 8000:
        pcm = to_8k_ulaw_round_trip(pcm)
    gated, ungated = detector(rate), SpeechDetector(rate, gate_dbfs=None)
    got, ref = run(gated, pcm), run(ungated, pcm)
    assert [e.kind for e in got] == ["start", "end"]
    assert [e.kind for e in ref] == ["start", "end"]
    assert abs(got[0].speech_t - ref[0].speech_t) <= 2 * gated.vad.window / rate + 1e-9
    assert 2.0 - 0.05 < got[0].speech_t < 2.0 + 0.3  # near the true onset
    assert gated.vad.windows_skipped > 0  # the gate really was in play


def test_batched_detection_with_the_gate_matches_alone(utterances) -> None:
    speech = quiet(3.0, 8000, None) + to_8k_ulaw_round_trip(utterances["order"].pcm)
    speech += quiet(2.0, 8000, -60.0)
    streams = [speech, speech[3200:] + bytes(3200), quiet(len(speech) / 16000, 8000, -60.0)]
    alone_dets = [detector(8000) for _ in streams]
    alone = [run(d, p) for d, p in zip(alone_dets, streams, strict=True)]
    dets = [detector(8000) for _ in streams]
    got: list[list[SpeechTransition]] = [[] for _ in dets]
    for i in range(0, len(speech), 320):
        for k, evs in enumerate(vad.detect_batched(dets, [p[i : i + 320] for p in streams])):
            got[k] += evs
    got = [g + d.flush() for g, d in zip(got, dets, strict=True)]
    assert [[e.kind for e in g] for g in got] == [["start", "end"]] * 2 + [[]]
    for a, b in zip(alone, got, strict=True):
        assert [(e.kind, round(e.t, 6)) for e in a] == [(e.kind, round(e.t, 6)) for e in b]
    assert [d.vad.windows_skipped for d in dets] == [d.vad.windows_skipped for d in alone_dets]
    assert dets[2].vad.windows_run == 0


def test_gate_argument_is_checked() -> None:
    with pytest.raises(ValueError, match="gate_dbfs"):
        SpeechDetector(8000, gate_dbfs=3.0)


def test_feed_gated_then_drain_batched_matches_alone(utterances) -> None:
    """The relay's split: the gate decides on the spot, the model's windows are drained together
    later (several frames may arrive before a drain) — same transitions as feeding alone."""
    speech = quiet(2.0, 8000, -60.0) + to_8k_ulaw_round_trip(utterances["order"].pcm)
    speech += quiet(2.0, 8000, -60.0)
    streams = [speech, quiet(1.0, 8000, -60.0) + speech[: -8000 * 2]]
    alone = [run(detector(8000), p) for p in streams]
    dets = [detector(8000) for _ in streams]
    got: list[list[SpeechTransition]] = [[] for _ in dets]
    waiting: set[int] = set()
    for n, i in enumerate(range(0, len(speech), 320)):
        for k, (det, pcm) in enumerate(zip(dets, streams, strict=True)):
            evs, undecided = det.feed_gated(pcm[i : i + 320])
            got[k] += evs
            if undecided:
                waiting.add(k)
        if n % 3 == 2 and waiting:  # a drain every third frame, as a batch timer would
            ids = sorted(waiting)
            for k, evs in zip(ids, vad.drain_batched([dets[k] for k in ids]), strict=True):
                got[k] += evs
            waiting.clear()
    for k, evs in enumerate(vad.drain_batched(dets)):
        got[k] += evs
    got = [g + d.flush() for g, d in zip(got, dets, strict=True)]
    assert [[e.kind for e in g] for g in got] == [["start", "end"]] * 2
    for a, b in zip(alone, got, strict=True):
        assert [(e.kind, round(e.t, 6)) for e in a] == [(e.kind, round(e.t, 6)) for e in b]
