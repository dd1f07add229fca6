"""The guard: a pure state machine that never leaves a caller in silence.

Events and a clock in, verdicts and actions out. `feed(event)` first runs every deadline that fell
due up to the event's `t`, then applies the event; `tick(now)` runs the deadlines alone;
`next_deadline()` says when `tick` next matters. Outputs mix `liveguard.events.Event` (verdicts,
health, recovery records: the session logs them) and `liveguard.guard.actions.Action` (the session
carries them out). Deadline outputs carry the deadline's own time, so the same events always give
the same outputs however often `tick` is called. No asyncio, no SDK, no wall clock: the same object
runs live, in tests and in `liveguard replay`. Rules and thresholds: docs/guard.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from liveguard.events import (
    ActivitySignal,
    BackgroundPhase,
    BackgroundWork,
    CallerSpeechEnded,
    CallerSpeechStarted,
    CallerText,
    Event,
    GoAway,
    Health,
    HealthChanged,
    InputTranscript,
    InteractionStatus,
    Interrupted,
    ModelAudio,
    OperatorAlert,
    Outcome,
    Purpose,
    RecoveryFinished,
    RecoveryStarted,
    ResumptionUpdate,
    Rung,
    SessionEnded,
    TurnAnswered,
    TurnComplete,
    UnansweredRule,
    UpstreamClosed,
    UpstreamConnected,
    UpstreamConnecting,
    Verdict,
    VerdictKind,
    VoiceActivity,
)
from liveguard.guard.actions import (
    Action,
    FailSession,
    FlushPlayback,
    PlayFallback,
    PlayFiller,
    Reconnect,
    SendText,
)
from liveguard.guard.handles import HandleHistory
from liveguard.guard.policy import ConnectBudget, GuardPolicy
from liveguard.guard.silences import SetupWait, SilenceWatch
from liveguard.guard.turns import TurnTracker, Utterance

Output = Event | Action

# The guard's own outputs: fed back (a replayed log holds them) they are ignored, never re-judged.
_OWN_EVENTS = (
    Verdict,
    HealthChanged,
    RecoveryStarted,
    RecoveryFinished,
    OperatorAlert,
    TurnAnswered,
    BackgroundWork,
)
_EVIDENCE_EVENTS = (
    CallerSpeechStarted,
    CallerSpeechEnded,
    InputTranscript,
    VoiceActivity,
    CallerText,
)
_MAX_PENDING_INTERRUPTS = 8

HEALTHY, SUSPECT, WEDGED, RECOVERING, FAILED = (
    Health.HEALTHY,
    Health.SUSPECT,
    Health.WEDGED,
    Health.RECOVERING,
    Health.FAILED,
)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


@dataclass(slots=True)
class _PendingInterrupt:
    """An `interrupted` without evidence yet: judged phantom unless evidence comes within grace."""

    t: float
    snapshot: dict[str, Any]


@dataclass(slots=True)
class _Ladder:
    """One recovery: the rungs still to try and the one in progress."""

    reason: str
    origin_t: float | None  # the suspect event; handles taken at or after it may be poisoned
    rungs: list[str]
    needs_answer: bool  # verified by model audio (else by the new connection alone)
    replay_from_t: float | None
    started_t: float
    prompt: str | None = None  # sent after a reconnect when no caller words wait (a tool result)
    rung: str | None = None
    rung_t: float = 0.0
    deadline: float | None = None
    awaiting_connect: bool = False
    attempt: int = 0


@dataclass(slots=True)
class _GoAwayPlan:
    t: float
    hard_t: float  # rotate by then even mid-turn (timeLeft minus the margin)
    hard_passed: bool = False
    started_t: float | None = None


@dataclass(slots=True)
class _Counters:
    in_row: int = 0
    while_suspect: int = 0
    run_start_t: float | None = None  # start of the first unanswered utterance of the run
    recoveries: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)


class Guard:
    """Decides; never does. See the module docstring and docs/guard.md.

    Longer than ~350 lines on purpose: its rules share one clock, one ladder and one set of
    deadlines, and splitting them would spread one decision over several objects. What can stand
    alone does: turn tracking (`TurnTracker`), handles (`HandleHistory`) and the evidence for
    today's silences (`SilenceWatch`).
    """

    def __init__(self, policy: GuardPolicy | None = None, *, max_handles: int = 256) -> None:
        self.policy = policy if policy is not None else GuardPolicy()
        self.turns = TurnTracker(
            min_utterance_s=self.policy.min_utterance_s,
            inaudible_level=self.policy.inaudible_level,
        )
        self.silences = SilenceWatch(self.policy)
        self.handles = HandleHistory(max_handles)
        self.state = HEALTHY
        self.counters = _Counters()
        self.suspect_t: float | None = None
        self._now = 0.0
        self._ended = False
        self._failed_hard = False  # a configuration error: nothing more to decide
        self._last_evidence: tuple[float, str] | None = None
        self._pending: list[_PendingInterrupt] = []
        self._ladder: _Ladder | None = None
        self._goaway: _GoAwayPlan | None = None
        self._connecting = False
        self._connected_t = 0.0
        self._initial_pending = False
        self.connects = ConnectBudget(self.policy)  # refusals in a row: backoff, then give up

    # ------------------------------------------------------------------ public API

    @property
    def recovering(self) -> bool:
        return self._ladder is not None

    @property
    def rung(self) -> str | None:
        """The recovery rung in progress, if any."""
        return self._ladder.rung if self._ladder else None

    def next_deadline(self) -> float | None:
        """When `tick` next has something to decide, or None."""
        due = self._due()
        return min(due)[0] if due else None

    def tick(self, now: float) -> list[Output]:
        """Run every deadline due at or before `now`."""
        out: list[Output] = []
        self._advance(now, out)
        self._now = max(self._now, now)
        if self.connects.pace(out):
            self._failed_hard = True
        return out

    def feed(self, event: Event) -> list[Output]:
        """Apply one event (after the deadlines due before it); returns verdicts and actions."""
        out = self._feed(event)
        if self.connects.pace(out):
            self._failed_hard = True  # past the budget: the session ends, nothing more to decide
        return out

    def _feed(self, event: Event) -> list[Output]:
        out: list[Output] = []
        now = max(self._now, event.t)
        self._advance(now, out)
        self._now = now
        if isinstance(event, _OWN_EVENTS) or self._ended:
            return out
        self.connects.track(event)
        if isinstance(event, TurnComplete):
            self._before_turn_complete(now, event, out)
        answered = self.turns.feed(event)
        out.extend(answered)
        if isinstance(event, _EVIDENCE_EVENTS) or (
            isinstance(event, ActivitySignal) and event.kind == "start"
        ):
            self._on_evidence(now, event.name, out)
        if isinstance(event, Interrupted):
            self._on_interrupted(now, out)
        elif isinstance(event, ModelAudio):
            self._on_model_audio(now, event, out)
        elif isinstance(event, ResumptionUpdate):
            self.handles.add(event.handle, now, self.turns.turn, event.resumable)
        elif isinstance(event, GoAway):
            hard = now + max(0.0, event.time_left_s - self.policy.goaway_margin_s)
            if self._goaway is None or self._goaway.started_t is None:
                self._goaway = _GoAwayPlan(t=now, hard_t=hard)
        elif isinstance(event, UpstreamConnecting):
            self._connecting = True
            self._initial_pending = event.purpose == Purpose.INITIAL
            self.silences.setup = SetupWait(t=now, attempt=event.attempt, purpose=event.purpose)
        elif isinstance(event, UpstreamConnected):
            self._on_connected(now, out)
        elif isinstance(event, UpstreamClosed):
            failed_before, mark = self._failed_hard, len(out)
            self._on_closed(now, event, out)
            if event.side == "server" and not failed_before:
                self._end_if_stranded(event, out[mark:], out)
        elif isinstance(event, SessionEnded):
            self._on_session_ended(now, out)
        if answered:
            self._on_answered(now, out)
        self._maybe_rotate(now, out)
        return out

    # ------------------------------------------------------------------ deadlines

    def _due(self) -> list[tuple[float, int, str]]:
        """(time, priority, kind) of every pending deadline."""
        if self._ended or self._failed_hard:
            return []
        due: list[tuple[float, int, str]] = []
        if self._pending:
            due.append((self._pending[0].t + self.policy.phantom_grace_s, 0, "phantom"))
        if self._ladder is not None and self._ladder.deadline is not None:
            due.append((self._ladder.deadline, 1, "rung"))
        answer = self._answer_deadline()
        if answer is not None:
            due.append((answer, 2, "answer"))
        g = self._goaway
        if g is not None and g.started_t is None and not g.hard_passed:
            due.append((g.hard_t, 3, "goaway"))
        if self.policy.enabled:
            bg = self.silences.background_deadline()
            if bg is not None and self._ladder is None:
                due.append((bg, 4, "background"))
            setup = self.silences.setup_deadline()
            if setup is not None:
                due.append((setup, 5, "setup"))
        return due

    def _answer_deadline(self) -> float | None:
        utt = self.turns.awaiting
        if (
            not self.policy.enabled
            or utt is None
            or utt.judged
            or utt.paused
            or self._ladder is not None
            or self._connecting
            or self.silences.background is not None  # bounded by the background budget instead
        ):
            return None
        anchor = max(utt.anchor_t or 0.0, self._connected_t, self.silences.background_ended_t)
        limit = (
            self.policy.suspect_answer_deadline_s
            if self.state == SUSPECT
            else self.policy.answer_deadline_s
        )
        return anchor + limit

    def _advance(self, now: float, out: list[Output]) -> None:
        for _ in range(10_000):  # every pass retires a deadline; bounded all the same
            due = self._due()
            if not due:
                return
            t, _prio, kind = min(due)
            if t > now:
                return
            # A deadline that a state change moved into the past fires now, not back in time.
            t = max(t, self._now)
            self._now = t
            if kind == "phantom":
                self._phantom(t, self._pending.pop(0), out)
            elif kind == "rung":
                self._rung_timeout(t, out)
            elif kind == "answer":
                utt = self.turns.awaiting
                assert utt is not None
                limit = t - max(utt.anchor_t or 0.0, self._connected_t)
                rule = UnansweredRule.ANSWER_DEADLINE
                self._unanswered(t, rule, utt, out, deadline_s=_r(limit))
            elif kind == "goaway":
                assert self._goaway is not None
                self._goaway.hard_passed = True
                self._maybe_rotate(t, out, hard=True)
            elif kind == "background":
                self._background_stall(t, out)
            else:
                self._setup_timeout(t, out)

    # ------------------------------------------------------------------ interrupts

    def _speech_evidence(self, t: float) -> tuple[str, float] | None:
        """The newest caller-speech evidence within the window before `t` (or speech going on)."""
        if self.turns.caller_speaking:
            return ("caller_speaking", t)
        ev = self._last_evidence
        if ev is not None and t - ev[0] <= self.policy.speech_evidence_window_s:
            return (ev[1], ev[0])
        return None

    def _snapshot(self, t: float) -> dict[str, Any]:
        tr = self.turns
        return {
            "turn": tr.turn,
            "gemini_audio_chunks": tr.gemini_audio_chunks,
            "turn_audio_chunks": tr.turn_audio_chunks,
            "output_tokens": tr.output_tokens,
            "turn_output_tokens": tr.turn_output_tokens,
            "last_user_tx": tr.last_user_tx,
            "last_user_tx_age_ms": tr.last_user_tx_age_ms(t),
            "health": self.state,
        }

    def _on_interrupted(self, t: float, out: list[Output]) -> None:
        if not self.policy.enabled:
            out.append(FlushPlayback())
            return
        evidence = self._speech_evidence(t)
        if evidence is not None:
            kind, et = evidence
            ev = {
                "rule": "speech_evidence",
                **self._snapshot(t),
                "evidence": kind,
                "evidence_age_s": _r(t - et),
            }
            out.append(
                Verdict(t=t, kind=VerdictKind.REAL_INTERRUPT, turn=self.turns.turn, evidence=ev)
            )
            out.append(FlushPlayback())
            self.silences.barge_in_t = t
            return
        pending = _PendingInterrupt(t=t, snapshot=self._snapshot(t))
        if self.policy.phantom_grace_s <= 0:
            self._phantom(t, pending, out)
        elif len(self._pending) < _MAX_PENDING_INTERRUPTS:
            self._pending.append(pending)

    def _on_evidence(self, t: float, kind: str, out: list[Output]) -> None:
        self._last_evidence = (t, kind)
        while self._pending:  # evidence within the grace: those interrupts were real after all
            p = self._pending.pop(0)
            ev = {"rule": "late_speech_evidence", **p.snapshot, "evidence": kind}
            ev["evidence_delay_s"] = _r(t - p.t)
            out.append(
                Verdict(t=t, kind=VerdictKind.REAL_INTERRUPT, turn=p.snapshot["turn"], evidence=ev)
            )
            out.append(FlushPlayback())
            self.silences.barge_in_t = p.t

    def _phantom(self, t: float, p: _PendingInterrupt, out: list[Output]) -> None:
        last = self._last_evidence
        ev = {
            "rule": "no_speech_evidence",
            **p.snapshot,
            "interrupt_t": _r(p.t),
            "window_s": self.policy.speech_evidence_window_s,
            "grace_s": self.policy.phantom_grace_s,
            "last_speech_evidence": last[1] if last else None,
            "last_speech_evidence_age_s": _r(p.t - last[0]) if last else None,
        }
        self._count(VerdictKind.PHANTOM_INTERRUPT)
        out.append(
            Verdict(t=t, kind=VerdictKind.PHANTOM_INTERRUPT, turn=p.snapshot["turn"], evidence=ev)
        )
        if self.policy.flush_on_phantom:
            out.append(FlushPlayback())
        if self._ladder is None and self.state in (HEALTHY, FAILED, SUSPECT):
            if self.suspect_t is None:
                self.suspect_t = p.t
            self._set_health(t, SUSPECT, out)

    # ------------------------------------------------------------------ unanswered turns, wedges

    def _before_turn_complete(self, t: float, event: TurnComplete, out: list[Output]) -> None:
        """Judge the turn this TurnComplete closes, with the tracker's counts before it resets."""
        tr = self.turns
        ended_work = False
        if not self._failed_hard:
            phases = self.silences.on_turn_complete(t, event)
            out.extend(phases)
            started = any(getattr(e, "phase", "") == BackgroundPhase.START for e in phases)
            ended_work = any(getattr(e, "phase", "") == BackgroundPhase.END for e in phases)
            if started and self.policy.filler_during_background and self._ladder is None:
                out.append(PlayFiller())  # keep the caller informed while the model works
        if not self.policy.enabled or self._ladder is not None or self._failed_hard:
            return
        if tr.turn_interrupted:
            return  # the close of an interrupted turn
        if tr.turn_audible_chunks > 0:
            if event.interaction_status != InteractionStatus.IN_PROGRESS:  # else more may follow
                self._check_cut(t, out)
            return  # a turn the caller heard
        utt = tr.awaiting
        open_utt = utt if utt is not None and not utt.judged else None
        extra = {"reason": event.reason, "waiting_for_input": event.waiting_for_input}
        if event.interaction_status is not None:
            extra["interaction_status"] = event.interaction_status
        if event.reason == "RESPONSE_REJECTED":
            self._unanswered(t, UnansweredRule.RESPONSE_REJECTED, open_utt, out, **extra)
        elif open_utt is not None and not open_utt.paused:
            if event.reason == "NEED_MORE_INPUT" or event.waiting_for_input:
                return  # the server waits for the caller to go on; the deadline still runs
            if self.silences.background is not None:
                return  # background work (IN_PROGRESS): the budget bounds the silence
            if ended_work and open_utt.start_t >= self.silences.background_ended_from:
                # IDLE closes the background task, not what the caller said meanwhile: the
                # answer deadline (from now at the earliest) bounds that
                return
            self._unanswered(t, UnansweredRule.EMPTY_TURN, open_utt, out, **extra)

    def _unanswered(
        self, t: float, rule: str, utt: Utterance | None, out: list[Output], **extra: Any
    ) -> None:
        """An unanswered caller turn: its verdict, then recovery from the policy's first rung
        (or, the second in a row or while suspect, a wedge with its ladder)."""
        c = self.counters
        if utt is not None:
            utt.judged = True
        rule, more = self.silences.refine(rule, utt, self.policy.speech_evidence_window_s)
        c.in_row += 1
        if self.state == SUSPECT:
            c.while_suspect += 1
        if c.run_start_t is None:
            c.run_start_t = utt.start_t if utt is not None else t
        ev = {"rule": rule, **self._snapshot(t), "unanswered_in_row": c.in_row, **extra, **more}
        if utt is not None:
            ev["utterance_start_t"] = _r(utt.start_t)
            ev["utterance_end_t"] = _r(utt.end_t)
            ev["waited_s"] = _r(t - utt.end_t) if utt.end_t is not None else None
            ev["utterance_source"] = utt.source
        self._count(VerdictKind.UNANSWERED_TURN)
        out.append(
            Verdict(t=t, kind=VerdictKind.UNANSWERED_TURN, turn=self.turns.turn, evidence=ev)
        )
        p = self.policy
        if self.state == SUSPECT and c.while_suspect >= p.wedge_unanswered_while_suspect:
            wedge_rule = "unanswered_while_suspect"
        elif c.in_row >= p.wedge_unanswered_in_row:
            wedge_rule = "unanswered_in_row"
        else:
            # every unanswered caller turn starts recovery, except one the model called tools
            # for: a result may be SILENT by design, and the tool guard judges what follows it
            if utt is not None and not utt.had_tools:
                self._recover(t, VerdictKind.UNANSWERED_TURN, c.run_start_t, out)
            return
        wev = {
            **ev,
            "rule": wedge_rule,
            "unanswered_rule": rule,
            "unanswered_while_suspect": c.while_suspect,
            "suspect_t": _r(self.suspect_t),
        }
        self._count(VerdictKind.WEDGE)
        out.append(Verdict(t=t, kind=VerdictKind.WEDGE, turn=self.turns.turn, evidence=wev))
        self._set_health(t, WEDGED, out)
        origin = self.suspect_t if self.suspect_t is not None else c.run_start_t
        self._recover(t, VerdictKind.WEDGE, origin, out)

    def _recover(self, t: float, kind: str, origin_t: float | None, out: list[Output]) -> None:
        """Start the ladder the policy gives verdicts of `kind` (none: the verdict only)."""
        rungs = self.policy.ladder_for(kind, list(self.policy.rungs))
        if not rungs:
            return
        self._start_ladder(
            t,
            kind,
            rungs,
            needs_answer=True,
            origin_t=origin_t,
            replay_from_t=self.counters.run_start_t,
            out=out,
        )

    def recover_tool_silence(
        self, t: float, since_t: float, reason: str, prompt: str | None = None
    ) -> list[Output]:
        """A tool result still unspoken after the tool guard's nudge (guard/tools.py): the rest
        of the ladder an unanswered caller turn runs (its rungs after the nudge), so no tool
        call leaves a caller in silence. `since_t`: the `toolResponse`; handles issued after it
        belong to the silent session; `prompt` (the nudge's words) is what a resumed or fresh
        session is asked, as no caller words wait. Nothing while a ladder runs or the guard is off.
        """
        out: list[Output] = []
        now = max(self._now, t)
        if not self.policy.enabled or self._ladder is not None or self._failed_hard:
            return out
        rungs = self.policy.ladder_for(VerdictKind.UNANSWERED_TURN, list(self.policy.rungs))
        rungs = [r for r in rungs if r != Rung.NUDGE]  # the tool guard has nudged already
        if rungs:
            self._start_ladder(
                now,
                reason,
                rungs,
                needs_answer=True,
                origin_t=since_t,
                replay_from_t=None,
                out=out,
                prompt=prompt,
            )
        if self.connects.pace(out):
            self._failed_hard = True
        return out

    def _background_stall(self, t: float, out: list[Output]) -> None:
        """Background work silent past its budget: a stall; recovery starts."""
        ev = {**self.silences.stall_evidence(t), **self._snapshot(t)}
        bg = self.silences.background
        assert bg is not None
        out.extend(self.silences.end_background(t, BackgroundPhase.OVER_BUDGET))
        utt = self.turns.awaiting
        if utt is not None and not utt.judged:
            utt.judged = True
            ev["utterance_start_t"] = _r(utt.start_t)
        c = self.counters
        c.in_row += 1
        if c.run_start_t is None:
            # replay from the request the work was for (a filler answered it), so a resumed or
            # fresh session hears it again instead of the silence since IN_PROGRESS
            req = utt or self.turns.last_answered
            c.run_start_t = req.start_t if req is not None else bg.start_t
        self._count(VerdictKind.BACKGROUND_STALL)
        out.append(
            Verdict(t=t, kind=VerdictKind.BACKGROUND_STALL, turn=self.turns.turn, evidence=ev)
        )
        self._recover(t, VerdictKind.BACKGROUND_STALL, bg.start_t, out)

    def _check_cut(self, t: float, out: list[Output]) -> None:
        """A heard turn that ends mid-sentence with its audio stopping abruptly: cut short."""
        ev = self.silences.cut_evidence(self.turns)
        if ev is None:
            return
        ev = {**ev, **self._snapshot(t)}
        self._count(VerdictKind.CUT_ANSWER)
        out.append(Verdict(t=t, kind=VerdictKind.CUT_ANSWER, turn=self.turns.turn, evidence=ev))
        self._recover(t, VerdictKind.CUT_ANSWER, None, out)

    def _setup_timeout(self, t: float, out: list[Output]) -> None:
        """No setupComplete in time: the verdict; the session closes the attempt and reports
        it as an `UpstreamClosed`, which the ladder treats as any lost connection (a retry)."""
        ev = {**self.silences.setup_evidence(t), **self._snapshot(t)}
        self._count(VerdictKind.SETUP_TIMEOUT)
        out.append(Verdict(t=t, kind=VerdictKind.SETUP_TIMEOUT, turn=self.turns.turn, evidence=ev))

    def _on_answered(self, t: float, out: list[Output]) -> None:
        c = self.counters
        c.in_row = c.while_suspect = 0
        c.run_start_t = None
        if self._ladder is None and self.state in (SUSPECT, FAILED, WEDGED):
            self.suspect_t = None
            self._set_health(t, HEALTHY, out)

    # ------------------------------------------------------------------ recovery ladder

    def _start_ladder(
        self,
        t: float,
        reason: str,
        rungs: list[str],
        *,
        needs_answer: bool,
        origin_t: float | None,
        replay_from_t: float | None,
        out: list[Output],
        prompt: str | None = None,
    ) -> None:
        p = self.policy
        if self.counters.recoveries >= p.max_recoveries_per_session:
            reason = f"{reason}; recovery budget exhausted"
            rungs = [Rung.FALLBACK] if Rung.FALLBACK in p.rungs else []
        else:
            self.counters.recoveries += 1
        if origin_t is not None:
            self.handles.poison_since(origin_t)
        self._ladder = _Ladder(
            reason=reason,
            origin_t=origin_t,
            rungs=rungs,
            needs_answer=needs_answer,
            replay_from_t=replay_from_t,
            started_t=t,
            prompt=prompt,
        )
        self._set_health(t, RECOVERING, out)
        if p.filler_while_recovering and rungs and rungs[0] != Rung.FALLBACK:
            out.append(PlayFiller())
        self._next_rung(t, out)

    def _replay(self) -> tuple[float | None, str | None]:
        lad = self._ladder
        utt = self.turns.awaiting
        start = lad.replay_from_t if lad is not None else None
        if start is None and utt is not None:
            start = utt.start_t
        text = self.turns.unanswered_text() or (utt.text.strip() if utt is not None else "")
        return start, (text or (lad.prompt if lad is not None else None) or None)

    def _next_rung(self, t: float, out: list[Output]) -> None:
        lad = self._ladder
        assert lad is not None
        while lad.rungs:
            rung = lad.rungs.pop(0)
            action: Action | None = None
            if rung == Rung.NUDGE:
                text = self.turns.unanswered_text() or self.turns.last_user_tx
                if text and not self._connecting:
                    action = SendText(text=text)
            elif rung == Rung.RESUME:
                rec = (
                    self.handles.newest_before(lad.origin_t)
                    if lad.origin_t is not None
                    else self.handles.newest()
                )
                if rec is not None:
                    start, text = self._replay()
                    action = Reconnect(
                        Purpose.RESUME, handle=rec.handle, replay_from_t=start, replay_text=text
                    )
            elif rung == Rung.FRESH:
                self.handles.poison_all()  # they belong to the session we abandon
                start, text = self._replay()
                action = Reconnect(
                    Purpose.FRESH,
                    seed_turns=self.turns.seed_turns(),
                    replay_from_t=start,
                    replay_text=text,
                )
            elif rung == Rung.FALLBACK:
                self._fallback(t, lad, out)
                return
            if action is None:
                continue  # the rung cannot apply here: skip it
            lad.attempt += 1
            lad.rung, lad.rung_t = rung, t
            lad.deadline = t + self.policy.rung_deadline_s(rung)
            out.append(RecoveryStarted(t=t, rung=rung, attempt=lad.attempt, reason=lad.reason))
            if isinstance(action, Reconnect):
                lad.awaiting_connect = True
                self._connecting = True
            out.append(action)
            return
        self._ladder = None
        out.append(OperatorAlert(t=t, reason=f"recovery failed, no rung left ({lad.reason})"))
        self._set_health(t, FAILED, out)

    def _fallback(self, t: float, lad: _Ladder, out: list[Output]) -> None:
        lad.attempt += 1
        out.append(RecoveryStarted(t=t, rung=Rung.FALLBACK, attempt=lad.attempt, reason=lad.reason))
        out.append(PlayFallback(reason=lad.reason))
        out.append(OperatorAlert(t=t, reason=f"caller got the fallback prompt ({lad.reason})"))
        out.append(RecoveryFinished(t=t, rung=Rung.FALLBACK, outcome=Outcome.DONE, duration_s=0.0))
        self._ladder = None
        self._set_health(t, FAILED, out)

    def _finish_rung(self, t: float, outcome: str, out: list[Output]) -> None:
        lad = self._ladder
        assert lad is not None and lad.rung is not None
        out.append(
            RecoveryFinished(
                t=t, rung=lad.rung, outcome=outcome, duration_s=round(t - lad.rung_t, 6)
            )
        )
        lad.rung, lad.deadline, lad.awaiting_connect = None, None, False

    def _ladder_succeeded(self, t: float, outcome: str, out: list[Output]) -> None:
        self._finish_rung(t, outcome, out)
        self._ladder = None
        c = self.counters
        c.in_row = c.while_suspect = 0
        c.run_start_t = None
        self.suspect_t = None
        self._set_health(t, HEALTHY, out)

    def _rung_timeout(self, t: float, out: list[Output]) -> None:
        self._finish_rung(t, Outcome.TIMEOUT, out)
        self._next_rung(t, out)

    def _on_model_audio(self, t: float, event: ModelAudio, out: list[Output]) -> None:
        if not self.turns.audible(event.level):
            return  # the caller hears nothing: no answer, no recovery success
        self.silences.on_audible(t)
        lad = self._ladder
        if lad is not None and lad.rung is not None and not lad.awaiting_connect:
            self._ladder_succeeded(t, Outcome.ANSWERED, out)

    # ------------------------------------------------------------------ connections

    def _on_connected(self, t: float, out: list[Output]) -> None:
        self.silences.setup = None
        out.extend(self.silences.end_background(t, BackgroundPhase.END))  # died with the old one
        self._connecting = False
        self._initial_pending = False
        self._connected_t = t
        lad = self._ladder
        if lad is not None and lad.awaiting_connect:
            lad.awaiting_connect = False
            if lad.needs_answer:
                lad.deadline = t + self.policy.rung_deadline_s(lad.rung or "")
            else:
                self._ladder_succeeded(t, Outcome.DONE, out)
        g = self._goaway
        if g is not None and g.started_t is not None:
            dur = round(t - g.started_t, 6)
            out.append(
                RecoveryFinished(t=t, rung=Rung.ROTATE, outcome=Outcome.DONE, duration_s=dur)
            )
        self._goaway = None  # a new connection: the old one's GoAway no longer applies

    def _on_closed(self, t: float, event: UpstreamClosed, out: list[Output]) -> None:
        self.silences.setup = None
        if event.side != "server" or self._failed_hard:
            return  # our own close (before a reconnect, or hanging up) is not a fault
        out.extend(self.silences.end_background(t, BackgroundPhase.END))
        never_connected = self._initial_pending
        self._connecting = False
        self._initial_pending = False
        if event.code == 1007 or (never_connected and event.code == 1008):
            self._config_error(t, event, out)
            return
        lad = self._ladder
        g = self._goaway
        rotating = g is not None and g.started_t is not None
        if rotating:
            assert g is not None and g.started_t is not None
            dur = round(t - g.started_t, 6)
            out.append(
                RecoveryFinished(t=t, rung=Rung.ROTATE, outcome=Outcome.FAILED, duration_s=dur)
            )
        self._goaway = None
        if lad is not None:
            if lad.rung is not None:
                self._finish_rung(t, Outcome.FAILED, out)
            if event.code == 1008 and Rung.RESUME in lad.rungs:
                lad.rungs.remove(Rung.RESUME)  # the session is gone: resuming cannot work
            self._next_rung(t, out)
            return
        needs_answer = self.turns.awaiting is not None
        if self.policy.enabled:
            # An answer cut short by the drop: the caller heard part of it, so the utterance awaits
            # an answer again and is replayed. The normal answer deadline watches it (it pauses
            # while the caller talks on), not the rung's.
            self.turns.reopen_cut_answer(t)
        not_found = event.code == 1008 and ("not found" in event.reason.lower() or rotating)
        rungs = [Rung.FRESH] if not_found else [Rung.RESUME, Rung.FRESH]
        if Rung.FALLBACK in self.policy.rungs:
            rungs.append(Rung.FALLBACK)
        exhausted = self.counters.recoveries >= self.policy.max_recoveries_per_session
        self._start_ladder(
            t,
            f"upstream closed {event.code}",
            rungs,
            needs_answer=needs_answer,
            origin_t=self.suspect_t,
            replay_from_t=None,
            out=out,
        )
        if exhausted:  # no upstream and no budget to reconnect: end the call, never hang silent
            self._failed_hard = True
            out.append(
                FailSession(reason=f"upstream closed {event.code}; recovery budget exhausted")
            )

    def _config_error(self, t: float, event: UpstreamClosed, out: list[Output]) -> None:
        ev = {"rule": f"close_{event.code}", "code": event.code, "reason": event.reason}
        ev["side"] = event.side
        self._count(VerdictKind.CONFIG_ERROR)
        out.append(Verdict(t=t, kind=VerdictKind.CONFIG_ERROR, turn=self.turns.turn, evidence=ev))
        if self._ladder is not None and self._ladder.rung is not None:
            self._finish_rung(t, Outcome.FAILED, out)
        self._ladder = None
        self._goaway = None
        self._failed_hard = True
        reason = f"configuration error: upstream closed {event.code} {event.reason}".strip()
        out.append(FailSession(reason=reason))
        self._set_health(t, FAILED, out)

    def _end_if_stranded(self, event: UpstreamClosed, decided: list[Output], out: list) -> None:
        """The upstream is gone and no rung reconnects (none left, or none applies): the session
        cannot continue, so it ends with the close as its reason rather than hanging silent."""
        if any(isinstance(o, Reconnect | FailSession) for o in decided):
            return
        self._failed_hard = True
        out.append(FailSession(reason=f"upstream closed {event.code} {event.reason}".strip()))

    def _at_boundary(self) -> bool:
        tr = self.turns
        utt = tr.awaiting
        idle = self.silences.background is None  # rotating now would lose the model's work
        return (
            idle and not tr.caller_speaking and not tr.model_active and (utt is None or utt.judged)
        )

    def _maybe_rotate(self, t: float, out: list[Output], hard: bool = False) -> None:
        g = self._goaway
        if g is None or g.started_t is not None or self._failed_hard or self._ended:
            return
        if self._ladder is not None or self._connecting or not self.handles.resumable:
            return  # resumable=false: a handle now would lose what the server is doing
        if not (hard or g.hard_passed or self._at_boundary()):
            return
        rec = (
            self.handles.newest_before(self.suspect_t)
            if self.suspect_t is not None
            else self.handles.newest()
        )
        if rec is None:
            return
        utt = self.turns.awaiting
        start = utt.start_t if utt is not None else None
        text = (utt.text.strip() or None) if utt is not None else None
        g.started_t = t
        self._connecting = True
        out.append(RecoveryStarted(t=t, rung=Rung.ROTATE, attempt=1, reason="go_away"))
        out.append(
            Reconnect(Purpose.ROTATE, handle=rec.handle, replay_from_t=start, replay_text=text)
        )

    def _on_session_ended(self, t: float, out: list[Output]) -> None:
        out.extend(self.silences.end_background(t, BackgroundPhase.END))
        self.silences.setup = None
        lad = self._ladder
        if lad is not None and lad.rung is not None:
            self._finish_rung(t, Outcome.FAILED, out)
        self._ladder = None
        self._pending.clear()
        self._ended = True

    # ------------------------------------------------------------------ helpers

    def _set_health(self, t: float, state: str, out: list[Output]) -> None:
        if state != self.state:
            out.append(HealthChanged(t=t, state=state, previous=self.state))
            self.state = state

    def _count(self, kind: str) -> None:
        self.counters.verdicts[kind] = self.counters.verdicts.get(kind, 0) + 1
