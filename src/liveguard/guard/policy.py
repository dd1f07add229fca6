"""Guard thresholds and recovery ladder settings: every rule of the guard is a setting here."""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator

from liveguard.events import Rung
from liveguard.guard.silence_policy import SilencePolicy

RUNGS = (Rung.NUDGE, Rung.RESUME, Rung.FRESH, Rung.FALLBACK)


class GuardPolicy(SilencePolicy):
    """Defaults follow docs/guard.md; tune them offline with `liveguard replay`.

    The settings for today's silences (audibility, background work, setup timeout, which verdict
    starts which rung) come from its base, `SilencePolicy` (guard/silence_policy.py).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        True, description="off: no verdicts, no recovery; interrupts always flush"
    )
    speech_evidence_window_s: float = Field(
        1.5, gt=0, description="phantom if no caller speech evidence this recent"
    )
    phantom_grace_s: float = Field(
        0.5,
        ge=0,
        description="wait this long after `interrupted` for late evidence (transcripts lag)",
    )
    flush_on_phantom: bool = Field(
        False, description="drop already-buffered playback on a phantom interrupt"
    )
    answer_deadline_s: float = Field(
        3.0, gt=0, description="caller end of speech -> first model audio"
    )
    suspect_answer_deadline_s: float = Field(
        1.5, gt=0, description="the same while the session is suspect"
    )
    min_utterance_s: float = Field(
        0.25,
        ge=0,
        description="shorter local-VAD speech awaits an answer only once a transcript confirms it",
    )
    wedge_unanswered_in_row: int = Field(
        2, ge=1, description="unanswered turns in a row that make a wedge"
    )
    wedge_unanswered_while_suspect: int = Field(
        1, ge=1, description="unanswered turns while suspect that make a wedge"
    )
    rungs: list[str] = Field(default_factory=lambda: list(RUNGS))
    nudge_deadline_s: float = Field(1.0, gt=0)
    resume_deadline_s: float = Field(2.0, gt=0)
    fresh_deadline_s: float = Field(3.0, gt=0)
    max_recoveries_per_session: int = Field(5, ge=0)
    filler_while_recovering: bool = Field(
        False, description="ask the session to play the filler audio when a ladder starts"
    )
    goaway_margin_s: float = Field(
        5.0, ge=0, description="rotate before timeLeft minus this margin"
    )

    @field_validator("rungs")
    @classmethod
    def _known_rungs(cls, rungs: list[str]) -> list[str]:
        unknown = [r for r in rungs if r not in RUNGS]
        if unknown:
            raise ValueError(f"unknown rung(s) {unknown}; known: {list(RUNGS)}")
        if len(set(rungs)) != len(rungs):
            raise ValueError(f"rungs repeat: {rungs}")
        if "fallback" in rungs and rungs[-1] != "fallback":
            raise ValueError("'fallback' must be the last rung")
        return rungs

    def rung_deadline_s(self, rung: str) -> float:
        """How long a rung has to produce model audio (reconnect rungs: once connected)."""
        return {
            "nudge": self.nudge_deadline_s,
            "resume": self.resume_deadline_s,
            "fresh": self.fresh_deadline_s,
        }.get(rung, 0.0)
