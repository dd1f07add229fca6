"""`VadBatcher` on a real event loop: one batch for every session's pending windows, the same
transitions as a detector fed alone, and a failing callback or a discarded detector harms no one."""

from __future__ import annotations

import asyncio

import pytest

from liveguard.audio import mulaw
from liveguard.audio.clips import load_clip
from liveguard.audio.vad import SpeechDetector, SpeechTransition
from liveguard.session.vadbatch import MAX_STREAMS_PER_RUN, VadBatcher

FRAME = 320  # 20 ms at 8 kHz


def _speech() -> bytes:
    clip = mulaw.decode(mulaw.encode(load_clip("check_order", 8000).pcm))
    return bytes(16000) + clip + bytes(24000)


def _alone(pcm: bytes) -> list[tuple[str, float]]:
    det = SpeechDetector(8000)
    out = [tr for i in range(0, len(pcm), FRAME) for tr in det.feed(pcm[i : i + FRAME])]
    return [(tr.kind, round(tr.t, 6)) for tr in out]


@pytest.mark.parametrize("sessions", [4, MAX_STREAMS_PER_RUN * 2 + 3])
async def test_sessions_on_one_loop_share_batches_and_get_their_own_transitions(
    sessions: int,
) -> None:
    """More sessions than one run decides: the rest are decided in the loop's next passes."""
    pcm = _speech()
    batcher = VadBatcher(asyncio.get_running_loop(), delay_s=0.005)
    dets = [SpeechDetector(8000) for _ in range(sessions)]
    got: list[list[SpeechTransition]] = [[] for _ in dets]

    def feed(k: int, chunk: bytes) -> None:
        evs, undecided = dets[k].feed_gated(chunk)
        got[k].extend(evs)
        if undecided:
            batcher.submit(dets[k], got[k].extend)

    for i in range(0, len(pcm), FRAME):
        for k in range(len(dets)):
            feed(k, pcm[i : i + FRAME])
        if i % (3 * FRAME) == 0:
            await asyncio.sleep(0.006)  # the timer fires between some frames, not all
    await asyncio.sleep(0.02)
    expected = _alone(pcm)
    assert [kind for kind, _ in expected] == ["start", "end"]
    for evs in got:
        assert [(tr.kind, round(tr.t, 6)) for tr in evs] == expected
    assert batcher.streams >= 3 * batcher.batches  # most batches carried several sessions


async def test_a_failing_callback_and_a_discarded_detector_harm_no_one() -> None:
    pcm = _speech()
    batcher = VadBatcher(asyncio.get_running_loop(), delay_s=0.001)
    good, bad, gone = SpeechDetector(8000), SpeechDetector(8000), SpeechDetector(8000)
    got: list[SpeechTransition] = []

    def boom(_: list[SpeechTransition]) -> None:
        raise RuntimeError("an application bug")

    for i in range(0, len(pcm), FRAME):
        for det, done in ((good, got.extend), (bad, boom), (gone, boom)):
            evs, undecided = det.feed_gated(pcm[i : i + FRAME])
            if det is good:
                got.extend(evs)
            if undecided:
                batcher.submit(det, done)
        batcher.discard(gone)
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.01)
    assert [(tr.kind, round(tr.t, 6)) for tr in got] == _alone(pcm)
    assert gone.vad.windows_run == 0  # never decided once discarded


async def test_one_batcher_per_loop() -> None:
    loop = asyncio.get_running_loop()
    assert VadBatcher.for_loop() is VadBatcher.for_loop(loop)
