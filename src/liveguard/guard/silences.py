"""The evidence behind today's silences (issue 13), kept apart from the guard's ladder logic.

`SilenceWatch` is a plain object the `Guard` owns: it follows background work
(`interactionStatus`), the last real barge-in, and the connect waiting for `setupComplete`, and it
builds the evidence for inaudible answers and answers cut mid-sentence. It decides what was seen;
the guard decides what to do about it (verdicts, rungs). No clock of its own: times come from the
events, as everywhere in the guard. Rules: docs/guard.md, "Today's silences".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from liveguard.events import (
    BackgroundPhase,
    BackgroundWork,
    Event,
    InteractionStatus,
    TurnComplete,
    UnansweredRule,
)
from liveguard.guard.silence_policy import SilencePolicy
from liveguard.guard.turns import TurnTracker, Utterance

# what may end a finished sentence, after closing quotes and brackets are stripped
SENTENCE_END = frozenset(".!?…。！？؟")
_CLOSERS = "\"')]}»”’ "
_TAIL = 80  # transcript characters kept as evidence


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


@dataclass(slots=True)
class Background:
    """Background work in progress: the model said IN_PROGRESS, the caller hears silence."""

    start_t: float
    silent_from: float  # the last thing the caller heard (or the IN_PROGRESS turnComplete)
    turn: int


@dataclass(slots=True)
class SetupWait:
    """A connect attempt waiting for `setupComplete` (`UpstreamConnected`)."""

    t: float
    attempt: int
    purpose: str
    judged: bool = False


class SilenceWatch:
    """What the guard needs to know about background work, barge-ins and setups."""

    def __init__(self, policy: SilencePolicy) -> None:
        self.policy = policy
        self.background: Background | None = None
        self.background_ended_t = 0.0  # the answer deadline runs again from here
        self.background_ended_from = 0.0  # when the last background phase began
        self.barge_in_t: float | None = None  # a real interrupt with no audible audio since
        self.setup: SetupWait | None = None

    # ------------------------------------------------------------------ deadlines

    def background_deadline(self) -> float | None:
        bg = self.background
        return None if bg is None else bg.silent_from + self.policy.background_budget_s

    def setup_deadline(self) -> float | None:
        s = self.setup
        return None if s is None or s.judged else s.t + self.policy.setup_timeout_s

    # ------------------------------------------------------------------ background work

    def on_turn_complete(self, t: float, event: TurnComplete) -> list[Event]:
        """Start background work on IN_PROGRESS; IDLE (or a turn without the field) ends it."""
        status = event.interaction_status
        if status == InteractionStatus.IN_PROGRESS:
            if self.background is None:
                self.background = Background(start_t=t, silent_from=t, turn=event.turn)
                budget = self.policy.background_budget_s
                return [
                    BackgroundWork(
                        t=t, phase=BackgroundPhase.START, turn=event.turn, budget_s=budget
                    )
                ]
            return []
        return self.end_background(t, BackgroundPhase.END)

    def end_background(self, t: float, phase: str) -> list[Event]:
        bg, self.background = self.background, None
        if bg is None:
            return []
        self.background_ended_t = t
        self.background_ended_from = bg.start_t
        return [
            BackgroundWork(
                t=t,
                phase=phase,
                turn=bg.turn,
                budget_s=self.policy.background_budget_s,
                duration_s=round(t - bg.start_t, 6),
            )
        ]

    def stall_evidence(self, t: float) -> dict[str, Any]:
        bg = self.background
        assert bg is not None
        return {
            "rule": "silent_past_budget",
            "background_start_t": _r(bg.start_t),
            "background_turn": bg.turn,
            "silent_s": _r(t - bg.silent_from),
            "budget_s": self.policy.background_budget_s,
        }

    def on_audible(self, t: float) -> None:
        """The caller heard the model: barge-in freeze over, background silence restarts."""
        self.barge_in_t = None
        if self.background is not None:
            self.background.silent_from = t

    # ------------------------------------------------------------------ unanswered turns

    def refine(
        self, rule: str, utt: Utterance | None, window_s: float
    ) -> tuple[str, dict[str, Any]]:
        """A more telling rule for an unanswered turn, with its evidence: inaudible audio came,
        or the caller had barged in and nothing followed."""
        if utt is None or rule == UnansweredRule.RESPONSE_REJECTED:
            return rule, {}
        if utt.inaudible_chunks:
            return UnansweredRule.INAUDIBLE_ANSWER, self.level_evidence(utt)
        b = self.barge_in_t
        if b is not None and b >= utt.start_t - window_s:
            return UnansweredRule.BARGE_IN_FREEZE, {
                "interrupt_t": _r(b),
                "then_rule": str(rule),
            }
        return rule, {}

    def level_evidence(self, utt: Utterance) -> dict[str, Any]:
        """What the caller would have heard of the audio sent for this utterance."""
        n = utt.inaudible_chunks
        return {
            "inaudible_chunks": n,
            "level_mean": round(utt.level_sum / n, 1) if n else 0.0,
            "level_max": round(utt.level_max, 1),
            "inaudible_level": self.policy.inaudible_level,
            "inaudible_audio_s": round(utt.inaudible_bytes / 48000, 3),  # PCM16 at 24 kHz
        }

    # ------------------------------------------------------------------ cut answers

    def cut_evidence(self, tr: TurnTracker) -> dict[str, Any] | None:
        """Evidence that the turn closing now was cut mid-sentence, or None.

        Both must hold: the turn's output transcript ends without sentence punctuation, and its
        last audio chunk was still loud (speech stops abruptly; a finished sentence fades out).
        """
        text = tr.turn_output_text.rstrip(_CLOSERS)
        if not text or text[-1] in SENTENCE_END:
            return None
        level = tr.last_chunk_level
        if level < 0 or level < self.policy.cut_tail_level or tr.turn_audible_chunks == 0:
            return None
        return {
            "rule": "unfinished_sentence",
            "transcript_tail": text[-_TAIL:],
            "last_chunk_level": round(level, 1),
            "cut_tail_level": self.policy.cut_tail_level,
            "turn_level_mean": round(tr.turn_level_mean, 1),
            "turn_audio_chunks": tr.turn_audio_chunks,
            "generation_complete": tr.turn_generation_complete,
        }

    # ------------------------------------------------------------------ setup

    def setup_evidence(self, t: float) -> dict[str, Any]:
        s = self.setup
        assert s is not None
        s.judged = True
        return {
            "rule": "no_setup_complete",
            "attempt": s.attempt,
            "purpose": str(s.purpose),
            "waited_s": _r(t - s.t),
            "setup_timeout_s": self.policy.setup_timeout_s,
        }
