"""The emulated model's context window: the history, token accounting and `usageMetadata`.

Tokens are estimated the simple way the service's counts scale: text about 4 characters per token,
audio 25 tokens per second. With `contextWindowCompression` in the setup the oldest turns are
dropped (from a user turn on) once the window is full; without it, a full window makes the next
answer fail (the session closes 1007, spec §9).
"""

from __future__ import annotations

from typing import Any

from liveguard.emulator.resumption import TOKENS_PER_AUDIO_SECOND, Conversation, Turn

__all__ = ["MAX_HISTORY_TURNS", "ContextWindow", "content_tokens", "usage_metadata"]

MAX_HISTORY_TURNS = 400


class ContextWindow:
    """The history of one connection's conversation, measured in tokens."""

    def __init__(self, limit_tokens: int) -> None:
        self.limit = limit_tokens
        self.compression = False
        self.system_tokens = 0
        self.conv: Conversation | None = None

    def configure(self, setup: dict) -> None:
        self.compression = setup.get("context_window_compression") is not None
        self.system_tokens = content_tokens(setup.get("system_instruction"))

    def record(self, turn: Turn) -> None:
        """Append a turn; compress when allowed and needed."""
        conv = self.conv
        assert conv is not None
        conv.history.append(turn)
        if len(conv.history) > MAX_HISTORY_TURNS:
            del conv.history[0]
        if self.prompt_tokens() > self.limit and self.compression:
            while len(conv.history) > 1 and self.prompt_tokens() > self.limit // 2:
                del conv.history[0]
                while conv.history and conv.history[0].role != "user":
                    del conv.history[0]

    @property
    def exhausted(self) -> bool:
        """The window is full and nothing may be dropped: the next answer fails."""
        return self.prompt_tokens() > self.limit and not self.compression

    def prompt_tokens(self) -> int:
        assert self.conv is not None
        return self.system_tokens + sum(t.tokens for t in self.conv.history)

    def audio_tokens(self) -> int:
        assert self.conv is not None
        return sum(round(t.audio_s * TOKENS_PER_AUDIO_SECOND) for t in self.conv.history)


def usage_metadata(prompt: int, prompt_audio: int, response: int, text_mode: bool) -> dict:
    """`usageMetadata` of a turnComplete (proto3: a zero response count is omitted)."""
    audio = min(prompt_audio, prompt)
    usage: dict[str, Any] = {"promptTokenCount": prompt, "totalTokenCount": prompt + response}
    details = [{"modality": "TEXT", "tokenCount": prompt - audio}]
    if audio:
        details.append({"modality": "AUDIO", "tokenCount": audio})
    usage["promptTokensDetails"] = details
    if response:
        usage["responseTokenCount"] = response
        usage["responseTokensDetails"] = [
            {"modality": "TEXT" if text_mode else "AUDIO", "tokenCount": response}
        ]
    return usage


def content_tokens(content: Any) -> int:
    """Tokens of a system instruction (a string or a Content with text parts)."""
    if isinstance(content, str):
        return max(1, len(content) // 4)
    if not isinstance(content, dict):
        return 0
    total = 0
    for part in content.get("parts") or []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            total += max(1, len(part["text"]) // 4)
    return total
