"""The simulated caller's turns: one JSON line per utterance, DTMF digit or barge-in.

Why a plain object: a turn's figures (the silence between the end of the caller's speech and the
first model audio, how much of the answer was heard, whether a barge-in cleared the model) are
arithmetic over times and the playout, so they are computed here from the clock the caller passes
in, and the caller's asyncio loops only say when speech ended and audio arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from liveguard.caller.playout import Playout


@dataclass
class Turn:
    index: int
    utterance: str
    started_at: float
    kind: str = "say"
    end_of_speech: float | None = None
    first_audio: float | None = None
    heard_at_end_of_speech: float = 0.0
    clears_at_start: int = 0
    cleared_s_at_start: float = 0.0
    barged: bool | None = None


class TurnLog:
    """The turn in progress, numbered from 1, and the line each finished turn leaves."""

    def __init__(self, playout: Playout) -> None:
        self.playout = playout
        self.current: Turn | None = None
        self.count = 0
        self.answer_start = 0.0  # audio arriving after this counts for the current wait

    def begin(self, now: float, utterance: str, kind: str) -> Turn:
        """Start the next turn (`finish` the one in progress first, to keep its line)."""
        self.count += 1
        self.current = Turn(
            index=self.count,
            utterance=utterance,
            started_at=now,
            kind=kind,
            clears_at_start=self.playout.clears,
            cleared_s_at_start=self.playout.cleared_s,
        )
        return self.current

    def end_of_speech(self, turn: Turn, at: float) -> None:
        turn.end_of_speech = at
        turn.heard_at_end_of_speech = self.playout.heard_s(at)
        self.answer_start = at

    def on_audio(self, now: float) -> None:
        """Model audio arrived: the first after the end of speech answers the turn."""
        turn = self.current
        if turn and turn.end_of_speech is not None and turn.first_audio is None:
            turn.first_audio = now

    def finish(self, now: float) -> dict[str, Any] | None:
        """End the turn in progress; returns its line, or None when no turn was in progress."""
        turn, self.current = self.current, None
        if turn is None:
            return None
        playout = self.playout
        eos = turn.end_of_speech if turn.end_of_speech is not None else now
        latency = None if turn.first_audio is None else round(turn.first_audio - eos, 3)
        line: dict[str, Any] = {
            "turn": turn.index,
            "utterance": turn.utterance,
            "kind": turn.kind,
            "answered": turn.first_audio is not None,
            "end_of_speech_to_first_audio_s": latency,
            "heard_s": round(max(0.0, playout.heard_s(now) - turn.heard_at_end_of_speech), 3),
            "silence_s": round(latency if latency is not None else now - eos, 3),
        }
        if turn.kind == "barge_in":
            line["barged"] = bool(turn.barged)
            line["clear_received"] = playout.clears > turn.clears_at_start
            line["cleared_s"] = round(playout.cleared_s - turn.cleared_s_at_start, 3)
        return line
