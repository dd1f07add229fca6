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
    longest_gap: float = 0.0  # longest stretch after the end of speech with nothing audible
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
        self.audible_end = 0.0  # when the last audible frame's playout ends

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

    def on_audio(self, now: float, start: float, secs: float) -> None:
        """Audible model audio arrived (playing from `start` for `secs`): the first after the end
        of speech answers the turn; a gap before it is silence the caller sat through."""
        turn = self.current
        if turn and turn.end_of_speech is not None:
            gap = start - max(turn.end_of_speech, self.audible_end)
            turn.longest_gap = max(turn.longest_gap, gap)
            if turn.first_audio is None:
                turn.first_audio = now
        self.audible_end = start + secs

    def cleared(self, now: float) -> None:
        """A clear dropped what had not played: audible audio ends now at the latest."""
        self.audible_end = min(self.audible_end, now)

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
            # the longest the caller sat in silence: before the answer, or inside it (a filler,
            # then background work); the quiet after the turn's last audible audio is not waiting
            "silence_s": round(
                max(latency, turn.longest_gap) if latency is not None else now - eos, 3
            ),
        }
        if turn.kind == "barge_in":
            line["barged"] = bool(turn.barged)
            line["clear_received"] = playout.clears > turn.clears_at_start
            line["cleared_s"] = round(playout.cleared_s - turn.cleared_s_at_start, 3)
        return line
