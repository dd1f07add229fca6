"""Audio for the live path: μ-law codec, stateful resamplers, Silero VAD, WAV helpers.

Knows nothing of sessions or sockets: bytes in, bytes (or decisions) out. See docs/audio.md.
"""

from liveguard.audio import mulaw
from liveguard.audio.resample import Resampler
from liveguard.audio.vad import SileroStream, SpeechDetector, SpeechTransition, detect_batched
from liveguard.audio.wav import WavAudio, WavFormatError, read_wav, write_wav

__all__ = [
    "Resampler",
    "SileroStream",
    "SpeechDetector",
    "SpeechTransition",
    "WavAudio",
    "WavFormatError",
    "detect_batched",
    "mulaw",
    "read_wav",
    "write_wav",
]
