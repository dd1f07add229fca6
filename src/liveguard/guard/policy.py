"""Guard thresholds and recovery ladder settings: every rule of the guard is a setting here."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GuardPolicy(BaseModel):
    """Defaults follow docs/guard.md; tune them offline with `liveguard replay`."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    speech_evidence_window_s: float = Field(1.5, gt=0, description="phantom if no caller speech evidence this recent")
    flush_on_phantom: bool = Field(False, description="drop already-buffered playback on a phantom interrupt")
    answer_deadline_s: float = Field(3.0, gt=0, description="caller end of speech -> first model audio")
    suspect_answer_deadline_s: float = Field(1.5, gt=0, description="the same while the session is suspect")
    wedge_unanswered_in_row: int = Field(2, ge=1, description="unanswered turns in a row that make a wedge")
    wedge_unanswered_while_suspect: int = Field(1, ge=1, description="unanswered turns while suspect that make a wedge")
    rungs: list[str] = Field(default_factory=lambda: ["nudge", "resume", "fresh", "fallback"])
    nudge_deadline_s: float = Field(1.2, gt=0)
    resume_deadline_s: float = Field(2.5, gt=0)
    fresh_deadline_s: float = Field(3.0, gt=0)
    max_recoveries_per_session: int = Field(5, ge=0)
    goaway_margin_s: float = Field(5.0, ge=0, description="rotate before timeLeft minus this margin")
