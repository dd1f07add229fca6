"""Caller audio in: checked, then brought to the session's one upstream rate.

The upstream rate is the first frame's rate unless the application fixed it: the service
resamples whatever rate the MIME type declares, so phone audio goes at 8 kHz unresampled. A frame
at another rate is resampled (stateful per input rate, anti-aliased: `audio.resample`).
"""

from __future__ import annotations

from liveguard.audio.resample import Resampler
from liveguard.session.bounds import CALLER_RATES

FRAME_MS_MAX = 1000  # one send_audio call carries at most this much audio


def check_frame(pcm: bytes, rate: int) -> None:
    """Raise `ValueError` for audio a session does not take (see `GuardedSession.send_audio`)."""
    if rate not in CALLER_RATES:
        raise ValueError(f"caller audio rate must be one of {CALLER_RATES}, got {rate}")
    if len(pcm) % 2:
        raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
    if len(pcm) > rate * 2 * FRAME_MS_MAX // 1000:
        raise ValueError(f"audio frame of {len(pcm)} bytes is longer than {FRAME_MS_MAX} ms")


class UpstreamRate:
    """The session's upstream rate and the resamplers that bring other rates to it."""

    def __init__(self, rate: int | None = None) -> None:
        self.rate = rate  # None until the first frame fixes it
        self._resamplers: dict[int, Resampler] = {}

    def convert(self, pcm: bytes, rate: int) -> bytes:
        """`pcm` at `rate` as audio at the upstream rate (fixing it on the first frame)."""
        if self.rate is None:
            self.rate = rate
        if rate == self.rate:
            return bytes(pcm)
        resampler = self._resamplers.get(rate)
        if resampler is None:
            resampler = self._resamplers[rate] = Resampler(rate, self.rate)
        return resampler.process(pcm)
