"""The guard's settings for today's silences (issue 13): audibility, background work, cut answers,
setup timeouts, and which verdict starts which recovery rung.

A separate base of `GuardPolicy` so these settings stay in one block of their own; they are
`guard.*` settings like the others (`LIVEGUARD_GUARD__SETUP_TIMEOUT_S`, `--set guard.…`).
Defaults and the sources behind them: docs/guard.md, "Today's silences".
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from liveguard.events import Rung, VerdictKind

LADDER = (Rung.NUDGE, Rung.RESUME, Rung.FRESH, Rung.FALLBACK)
NO_RECOVERY = "none"
#: verdicts that can start a recovery ladder, and the first rung each starts at by default
DEFAULT_RECOVER_FROM: dict[str, str] = {
    VerdictKind.UNANSWERED_TURN: Rung.NUDGE,
    VerdictKind.WEDGE: Rung.NUDGE,
    VerdictKind.BACKGROUND_STALL: Rung.NUDGE,
    VerdictKind.CUT_ANSWER: NO_RECOVERY,
}


class SilencePolicy(BaseModel):
    """Thresholds for what the caller hears, and the verdict -> first rung map."""

    model_config = ConfigDict(extra="forbid")

    inaudible_level: float = Field(
        100.0,
        ge=0,
        description="model audio chunks with a mean |sample| below this are inaudible: they do "
        "not answer a turn (healthy calls 2,061-10,747, the broken ones 18)",
    )
    background_budget_s: float = Field(
        30.0,
        gt=0,
        description="silence allowed while the model works in the background (IN_PROGRESS); "
        "past it the work is a stall and recovery starts",
    )
    filler_during_background: bool = Field(
        False, description="play the filler audio when background work begins"
    )
    cut_tail_level: float = Field(
        500.0,
        ge=0,
        description="a turn whose last audio chunk is this loud and whose transcript stops "
        "mid-sentence was cut short",
    )
    setup_timeout_s: float = Field(
        3.0, gt=0, description="a connect without setupComplete by then is a setup_timeout"
    )
    recover_from: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_RECOVER_FROM),
        description="verdict kind -> first rung of its recovery ('none': report only)",
    )

    @field_validator("recover_from")
    @classmethod
    def _known_kinds_and_rungs(cls, value: dict[str, str]) -> dict[str, str]:
        kinds = set(DEFAULT_RECOVER_FROM)
        unknown = sorted(k for k in value if k not in kinds)
        if unknown:
            raise ValueError(
                f"recover_from: unknown verdict kind(s) {unknown}; known: {sorted(kinds)}"
            )
        bad = sorted(v for v in value.values() if v != NO_RECOVERY and v not in LADDER)
        if bad:
            raise ValueError(
                f"recover_from: unknown rung(s) {bad}; known: {[*LADDER, NO_RECOVERY]}"
            )
        return {**DEFAULT_RECOVER_FROM, **value}

    def ladder_for(self, kind: str, rungs: list[str]) -> list[str]:
        """The rungs a verdict of `kind` runs: the configured ladder from its first rung on."""
        start = self.recover_from.get(kind, NO_RECOVERY)
        if start == NO_RECOVERY:
            return []
        first = LADDER.index(Rung(start))
        return [r for r in rungs if LADDER.index(Rung(r)) >= first]

    def audible(self, level: float) -> bool:
        """Would the caller hear a chunk of this level? Unknown (-1) counts as audible."""
        return level < 0 or level >= self.inaudible_level
