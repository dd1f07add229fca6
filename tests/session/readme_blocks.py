"""The README's runnable examples: each is the first fenced python block after its marker, run as
written against the emulator, pointed there by the SDK's own environment variables only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"```python\n(.*?)```", re.S)


def example_source(marker: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert marker in readme, f"README.md lost its {marker} marker"
    match = FENCE.search(readme[readme.index(marker) :])
    assert match, f"no fenced python block after {marker}"
    return match.group(1)


def code_lines(source: str) -> list[str]:
    """The lines that do something: no blanks, comments, docstring quotes or imports."""
    return [
        ln
        for ln in source.splitlines()
        if ln.strip() and not ln.strip().startswith(("#", '"""', "import", "from"))
    ]


def point_at_emulator(emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", emulator.api_key)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("SSL_CERT_FILE", emulator.ca_file)
    monkeypatch.setenv("LIVEGUARD_MODEL", "gemini-2.5-flash-native-audio-preview-12-2025")
