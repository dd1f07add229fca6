"""Model audio on the wire cut into whole 20 ms frames, sans-I/O (Twilio and the other carriers).

Why one piece: every carrier plays whole frames, so audio short of a frame (or of a carrier's
minimum chunk) waits for more, and a turn's tail is padded with the codec's silence. The carry is
always shorter than one chunk, so it is bounded.
"""

from __future__ import annotations

__all__ = ["FrameChunker"]


class FrameChunker:
    """Wire bytes in, whole frames out, at least `min_frames` at a time."""

    def __init__(self, frame_bytes: int, silence: bytes, min_frames: int = 1) -> None:
        self.frame_bytes = frame_bytes
        self.min_bytes = frame_bytes * min_frames
        self.silence = silence  # one sample of silence on the wire
        self.carry = b""  # wire bytes short of a whole chunk

    def push(self, wire: bytes) -> bytes:
        """The whole frames now due (empty while short of a chunk); the rest waits."""
        data = self.carry + wire if self.carry else wire
        if len(data) < self.min_bytes:
            self.carry = data
            return b""
        whole = len(data) - len(data) % self.frame_bytes
        self.carry = data[whole:]
        return data[:whole]

    def tail(self) -> bytes:
        """End of a turn: what waits, padded with silence to a whole frame (empty if nothing)."""
        if not self.carry:
            return b""
        pad = -len(self.carry) % self.frame_bytes
        out = self.carry + self.silence * (pad // len(self.silence))
        self.carry = b""
        return out

    def drop(self) -> int:
        """A barge-in: what waits is discarded; returns its length in bytes."""
        dropped = len(self.carry)
        self.carry = b""
        return dropped
