"""Guard thresholds and recovery ladder settings: every rule of the guard is a setting here.

`ConnectBudget` decides the backoff after refused connects and when to stop trying (the guard
runs it, so `liveguard replay` shows it). `preroll_from` and `replay_bracket` are the decisions of
the session's client-VAD wire, as pure functions: the asyncio shell only executes them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from liveguard.events import Event, Rung, UpstreamClosed, UpstreamConnected, UpstreamConnecting
from liveguard.guard.actions import FailSession, Reconnect
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


class ConnectBudget:
    """Connects refused in a row: the backoff before the next one, and when to give up.

    Pure: fed the session's connection events (`track`), it rewrites the guard's outputs
    (`pace`): after n refusals every `Reconnect` waits `policy.connect_delay_s(n)`; from
    `policy.max_connect_failures` refusals on, none is made and the session fails instead of
    looping on an unreachable service. A connect that succeeds resets the count.
    """

    def __init__(self, policy: GuardPolicy) -> None:
        self.policy = policy
        self.failures_in_row = 0
        self._attempt_open = False  # connecting, neither connected nor closed yet

    def track(self, event: Event) -> None:
        """Count a refusal: a server close between connecting and connected."""
        if isinstance(event, UpstreamConnecting):
            self._attempt_open = True
        elif isinstance(event, UpstreamConnected):
            self._attempt_open = False
            self.failures_in_row = 0
        elif isinstance(event, UpstreamClosed):
            if self._attempt_open and event.side == "server":
                self.failures_in_row += 1
            self._attempt_open = False

    def pace(self, out: list[Any]) -> bool:
        """Apply the budget to the guard's outputs in place; True when it failed the session."""
        n, p = self.failures_in_row, self.policy
        if n == 0 and p.max_connect_failures > 0:
            return False
        failed = False
        for i, item in enumerate(out):
            if not isinstance(item, Reconnect):
                continue
            if n >= p.max_connect_failures:
                out[i] = FailSession(reason=f"upstream unreachable after {n} attempts")
                failed = True
            else:
                out[i] = replace(item, delay_s=p.connect_delay_s(n))
        return failed


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
