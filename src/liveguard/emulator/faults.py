"""Which fault fires when: the fault decisions of one connection, apart from the turn flow.

`FaultPlan` reads the scenario's `faults`, draws from the connection's seeded random source and
keeps each one-shot fault to once per conversation (and `max_times` per process) through the
`ResumptionStore`. The session (model.py) asks it yes/no questions at fixed points of a turn and
acts on the answers; no timing or output is built here, so the decisions can be read and tested on
their own.
"""

from __future__ import annotations

import random

from liveguard.emulator.resumption import Conversation, ResumptionStore
from liveguard.emulator.scenario import (
    CloseFault,
    PhantomInterrupt,
    ResumeRejected,
    Scenario,
    TurnFault,
)

__all__ = ["FaultPlan"]


class FaultPlan:
    """The fault decisions of one connection (see module docstring)."""

    def __init__(self, scenario: Scenario, store: ResumptionStore, rng: random.Random) -> None:
        self.scenario = scenario
        self.faults = scenario.faults
        self.store = store
        self.rng = rng
        self.lineage = ""
        self._declined: set[str] = set()  # runs this connection decided against
        self._started: set[str] = set()  # runs that started on this connection
        self.resumed = False

    def bind(self, conv: Conversation) -> None:
        """The conversation this connection serves (new or resumed)."""
        self.lineage = conv.lineage

    def fires(self, name: str, probability: float, max_times: int | None) -> bool:
        """A one-shot fault fires now: not yet fired here, the dice agree, the budget allows."""
        if self.store.fired(self.lineage, name):
            return False
        if probability < 1.0 and self.rng.random() >= probability:
            return False
        return self.store.fire(self.lineage, name, self.scenario.name, max_times)

    def in_run(self, name: str, spec: TurnFault | None, turn: int) -> bool:
        """User turn `turn` is inside this fault's run (decided once per conversation)."""
        if spec is None or not spec.covers(turn):
            return False
        if name in self._started:
            return True
        if self.store.fired(self.lineage, name):  # the run started on an earlier connection
            return not (self.resumed and spec.on_resume == "clears")
        if name in self._declined:
            return False
        if self.fires(name, spec.probability, spec.max_times):
            self._started.add(name)
            return True
        self._declined.add(name)
        return False

    # ---- setup and resumption

    def setup_stalls(self, setup: dict) -> bool:
        """setupComplete never comes for this setup?"""
        spec = self.faults.setup_never_completes
        if spec is None:
            return False
        if spec.when_setup_has is not None:
            gen_cfg = setup.get("generation_config") or {}
            present = {k for k in setup if setup[k] is not None} | {
                k for k in gen_cfg if gen_cfg[k] is not None
            }
            if not present & set(spec.when_setup_has):
                return False
        return self.fires("setup_never_completes", spec.probability, spec.max_times)

    def resume_rejected(self) -> ResumeRejected | None:
        """Close a resume whose previous connection is still open with this fault's code?"""
        spec = self.faults.resume_rejected
        if spec is None or not self.fires("resume_rejected", spec.probability, spec.max_times):
            return None
        return spec

    def resume(self, conv: Conversation) -> None:
        """Apply `wedge.on_resume` to a conversation restored from a handle."""
        self.resumed = True
        wedge = self.faults.wedge
        on_resume = wedge.on_resume if wedge else "clears"
        if on_resume == "clears":
            conv.wedged = False
        elif on_resume == "keeps":
            conv.wedged = conv.wedged or self.store.lineage_wedged(conv.lineage)

    # ---- close

    @property
    def close_at_s(self) -> float | None:
        close = self.faults.close
        return close.at_s if close is not None else None

    def timed_close(self) -> CloseFault | None:
        close = self.faults.close
        if close is None or not self.fires("close", close.probability, close.max_times):
            return None
        return close

    def close_mid_turn(self, turn_no: int, chunks_sent: int) -> CloseFault | None:
        """Close before the next audio chunk of model turn `turn_no`?"""
        close = self.faults.close
        if (
            close is not None
            and close.at_turn == turn_no
            and chunks_sent >= close.after_chunks
            and self.fires("close", close.probability, close.max_times)
        ):
            return close
        return None

    # ---- wedge and phantom interrupt

    def wedged_turn_delay(self, conv: Conversation, from_text: bool) -> float | None:
        """Seconds until the empty turnComplete when this turn is wedged, else None.

        A text turn (a nudge) may clear the wedge (`nudge_clear_probability`).
        """
        wedge = self.faults.wedge
        if not conv.wedged or wedge is None:
            return None
        if from_text and self.rng.random() < wedge.nudge_clear_probability:
            conv.wedged = False
            return None
        return wedge.turn_complete_delay_s.sample(self.rng)

    @property
    def wedge_reason(self) -> str | None:
        wedge = self.faults.wedge
        return wedge.turn_complete_reason if wedge is not None else None

    def wedges_after_turn(self, conv: Conversation) -> bool:
        wedge = self.faults.wedge
        return (
            wedge is not None
            and wedge.start == "after_turn"
            and conv.model_turns == wedge.after_turn
            and not conv.wedged
            and self.fires("wedge", wedge.probability, wedge.max_times)
        )

    @property
    def wedges_after_phantom(self) -> bool:
        wedge = self.faults.wedge
        return wedge is not None and wedge.start == "after_phantom"

    def phantom_after_turn(self, conv: Conversation) -> PhantomInterrupt | None:
        phantom = self.faults.phantom_interrupt
        if (
            phantom is not None
            and conv.model_turns == phantom.after_turn
            and not (phantom.only_unseeded and conv.seeded)
            and self.fires("phantom", phantom.probability, phantom.max_times)
        ):
            return phantom
        return None

    # ---- today's per-turn faults

    def empty_turn(self, turn: int) -> tuple[float, str | None] | None:
        """(delay, turnCompleteReason) when this turn completes empty (stall or rejected run)."""
        f = self.faults
        if self.in_run("silent_stall", f.silent_stall, turn):
            assert f.silent_stall is not None
            return f.silent_stall.turn_complete_delay_s.sample(self.rng), None
        if self.in_run("rejected_run", f.rejected_run, turn):
            assert f.rejected_run is not None
            return f.rejected_run.turn_complete_delay_s.sample(self.rng), f.rejected_run.reason
        return None

    def inaudible_level(self, turn: int) -> float | None:
        """The mean absolute sample value this turn's answer is scaled to, if inaudible."""
        spec = self.faults.inaudible_answers
        return spec.mean_abs if spec and self.in_run("inaudible", spec, turn) else None

    def cut_fraction(self, turn: int) -> float | None:
        spec = self.faults.cut_answer
        return spec.fraction if spec and self.in_run("cut_answer", spec, turn) else None

    def background(self, turn: int) -> tuple[str, list[float | None]] | None:
        """(filler clip, background phase lengths; None = never ends) for a faulted turn."""
        f = self.faults
        if self.in_run("endless_background", f.endless_background, turn):
            assert f.endless_background is not None
            return f.endless_background.filler, [None]
        if self.in_run("background_phase", f.background_phase, turn):
            assert f.background_phase is not None
            return f.background_phase.filler, [f.background_phase.seconds.sample(self.rng)]
        return None

    def tool_no_answer(self) -> bool:
        """Does the model stay silent after this tool response?"""
        spec = self.faults.tool_no_answer
        return spec is not None and self.fires("tool_no_answer", spec.probability, spec.max_times)

    def freezes(self, barge_ins: int) -> bool:
        """Does the model freeze after this connection's `barge_ins`-th barge-in?"""
        spec = self.faults.freeze_after_barge_in
        return (
            spec is not None
            and barge_ins >= spec.after_barge_ins
            and self.fires("freeze", spec.probability, spec.max_times)
        )

    # ---- transcripts

    def transcript_copies(self, key: str) -> int:
        """How many times to send one transcription fragment (2 = a duplicate)."""
        dup = self.faults.duplicate_transcriptions
        if dup is not None and (key == "inputTranscription" or dup.output):
            if self.rng.random() < dup.probability:
                return 2
        return 1
