"""Guard thresholds and recovery ladder settings: every rule of the guard is a setting here.

Also the few decisions the session's client-VAD wire makes (`preroll_from`, `replay_bracket`), as
pure functions, so the asyncio shell only executes them and tests read them without sockets.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

RUNGS = ("nudge", "resume", "fresh", "fallback")


class GuardPolicy(BaseModel):
    """Defaults follow docs/guard.md; tune them offline with `liveguard replay`."""

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
    max_connect_failures: int = Field(
        4, ge=0, description="refused connects in a row before the session fails"
    )
    connect_backoff_s: float = Field(
        0.25, ge=0, description="wait before the next connect after a refusal; doubles per refusal"
    )
    connect_backoff_max_s: float = Field(
        2.0, ge=0, description="the longest wait between two connect attempts"
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

    def connect_delay_s(self, failures_in_row: int) -> float:
        """How long to wait before the next connect after `failures_in_row` refusals in a row."""
        if failures_in_row <= 0:
            return 0.0
        return min(self.connect_backoff_s * 2 ** (failures_in_row - 1), self.connect_backoff_max_s)

    def rung_deadline_s(self, rung: str) -> float:
        """How long a rung has to produce model audio (reconnect rungs: once connected)."""
        return {
            "nudge": self.nudge_deadline_s,
            "resume": self.resume_deadline_s,
            "fresh": self.fresh_deadline_s,
        }.get(rung, 0.0)


# ---------------------------------------------------------------- client-VAD wire decisions


def preroll_from(sent: list[str], speech_at: float | None, preroll_s: float) -> float | None:
    """Where the pre-roll starts (session seconds) after the activity signals `sent` for a speech
    start the VAD placed at `speech_at`; None: no pre-roll.

    The VAD decides a little after speech began, and the service ignores audio outside an
    activity, so when this speech start opened an activity the last `preroll_s` before the onset
    goes again right after `activityStart`.
    """
    if sent != ["start"] or speech_at is None:
        return None
    return speech_at - preroll_s


def replay_bracket(client_vad: bool, activity_open: bool) -> bool:
    """Whether a replay after a reconnect needs an `activityStart`/`activityEnd` of its own.

    Server VAD: never. Client VAD: unless the activity gate already reopened an activity for a
    caller who is still speaking; the replay then goes into that one.
    """
    return client_vad and not activity_open
