"""Real speech for the audio tests: espeak-ng sentences rendered once per session into tmp files."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from liveguard.audio.wav import read_wav

SENTENCES = {
    "billing": ("en-us", "Please transfer me to the billing department."),
    "order": ("en-gb+f3", "I would like to check the status of my order."),
}
TRIM_LEVEL = 32768 * 10 ** (-50 / 20)  # -50 dBFS: where an utterance starts and ends


@dataclass(frozen=True)
class Utterance:
    pcm: bytes  # 16 kHz PCM16, trimmed at -50 dBFS (speech from the first to the last sample)
    text: str

    @property
    def samples(self) -> np.ndarray:
        return np.frombuffer(self.pcm, dtype="<i2")

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / 16000


def _render(out_dir: Path, name: str, voice: str, text: str) -> Utterance:
    raw, wav16 = out_dir / f"{name}-raw.wav", out_dir / f"{name}-16k.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav16)], check=True)
    audio = read_wav(wav16)
    x = np.frombuffer(audio.pcm, dtype="<i2")
    loud = np.nonzero(np.abs(x.astype(np.int32)) > TRIM_LEVEL)[0]
    return Utterance(pcm=x[loud[0] : loud[-1] + 1].tobytes(), text=text)


@pytest.fixture(scope="session")
def utterances(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Utterance]:
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        raise RuntimeError("espeak-ng and sox (Debian packages) are needed for real test speech")
    out = tmp_path_factory.mktemp("speech")
    return {name: _render(out, name, voice, text) for name, (voice, text) in SENTENCES.items()}
