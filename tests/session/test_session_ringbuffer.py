"""The caller-audio ring buffer: bounded, addressable by session time, replay from t."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveguard.session.ringbuffer import AudioRingBuffer

RATE = 16000
FRAME = b"\x01\x00" * 320  # 20 ms at 16 kHz


def frame(i: int) -> bytes:
    """20 ms whose samples all carry the frame number, so replayed audio can be checked."""
    return (i % 30000).to_bytes(2, "little", signed=True) * 320


def test_holds_at_most_max_seconds():
    rb = AudioRingBuffer(RATE, max_seconds=1.0)
    for i in range(200):  # 4 s of audio
        rb.append(i * 0.02, frame(i))
    assert len(rb) == RATE * 2  # exactly 1 s of bytes
    assert rb.seconds == pytest.approx(1.0)
    assert rb.oldest_t == pytest.approx(3.0)
    assert rb.newest_end_t == pytest.approx(4.0)


def test_replay_from_t_starts_at_that_frame():
    rb = AudioRingBuffer(RATE, max_seconds=10.0)
    for i in range(100):
        rb.append(i * 0.02, frame(i))
    chunks = rb.since(1.0)
    assert chunks is not None
    assert chunks[0].t == pytest.approx(1.0)
    assert chunks[0].pcm == frame(50)
    assert b"".join(c.pcm for c in chunks) == b"".join(frame(i) for i in range(50, 100))


def test_replay_from_mid_frame_is_trimmed_to_the_sample():
    rb = AudioRingBuffer(RATE, max_seconds=10.0)
    rb.append(0.0, bytes(range(256)) * 5)  # 640 bytes = 20 ms
    chunks = rb.since(0.01)  # 160 samples in
    assert chunks is not None and len(chunks) == 1
    assert chunks[0].t == pytest.approx(0.01)
    assert chunks[0].pcm == (bytes(range(256)) * 5)[320:]


def test_replay_from_before_the_buffer_is_none():
    rb = AudioRingBuffer(RATE, max_seconds=1.0)
    for i in range(100):
        rb.append(i * 0.02, FRAME)
    assert rb.covers(1.0) and not rb.covers(0.5)
    assert rb.since(0.5) is None  # fell off: the caller replays the transcript instead
    assert rb.since(5.0) == []  # after the newest audio: nothing to replay


def test_empty_buffer():
    rb = AudioRingBuffer(RATE)
    assert rb.oldest_t is None and rb.newest_end_t is None
    assert rb.since(0.0) is None
    rb.append(1.0, b"")
    assert len(rb) == 0


def test_one_chunk_larger_than_the_buffer_keeps_its_tail():
    rb = AudioRingBuffer(RATE, max_seconds=0.5)
    pcm = b"".join(frame(i) for i in range(50))  # 1 s
    rb.append(2.0, pcm)
    assert len(rb) == RATE  # 0.5 s
    assert rb.oldest_t == pytest.approx(2.5)
    assert b"".join(c.pcm for c in rb.since(2.5)) == pcm[RATE:]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0}, "rate"),
        ({"max_seconds": 0}, "max_seconds"),
        ({"max_seconds": -1}, "max_seconds"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AudioRingBuffer(**kwargs)


def test_odd_byte_count_is_refused():
    with pytest.raises(ValueError, match="even"):
        AudioRingBuffer().append(0.0, b"\x00\x01\x02")


def test_clear():
    rb = AudioRingBuffer(RATE)
    rb.append(0.0, FRAME)
    rb.clear()
    assert len(rb) == 0 and rb.oldest_t is None


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=800).map(lambda n: n * 2), max_size=60),
    max_seconds=st.floats(min_value=0.01, max_value=0.2),
    frac=st.floats(min_value=0.0, max_value=1.0),
)
def test_bounded_and_contiguous_whatever_is_fed(sizes, max_seconds, frac):
    rb = AudioRingBuffer(RATE, max_seconds=max_seconds)
    stream = b""
    t = 0.0
    for n in sizes:
        pcm = bytes((len(stream) + k) % 251 for k in range(n))
        rb.append(t, pcm)
        stream += pcm
        t += n / 2 / RATE
    assert len(rb) <= rb.max_bytes
    assert len(rb) % 2 == 0
    if not len(rb):
        return
    # what is held is exactly the newest bytes of the stream, and times line up with it
    held = b"".join(c.pcm for c in rb.since(rb.oldest_t))
    assert held == stream[len(stream) - len(held) :]
    assert rb.newest_end_t == pytest.approx(t)
    start = rb.oldest_t + frac * (rb.newest_end_t - rb.oldest_t)
    tail = b"".join(c.pcm for c in rb.since(start))
    assert stream.endswith(tail)
    assert abs(len(tail) / 2 / RATE - (t - start)) <= 1.5 / RATE
