"""Per-session and per-window summaries: the incident's "Frequency" paragraph, from logs.

The numbers come from what the log recorded: the guard's own verdicts (phantom interrupt,
unanswered turn, wedge), `turn_answered`, recoveries and upstream closes. A log with no guard
records (another relay's, or a converted SDK dump) gets its verdicts by replaying the guard over
it (`liveguard.report.replay`), so the report never re-implements the guard's rules.

What the report measures itself is what callers lived through: how long each caller waited, after
finishing an utterance, for the model's first audio (`silence`), and whether a phantom interrupt
or a wedge was followed by model audio for a later caller turn (recovered) or not (wedged).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from liveguard.events import (
    GUARD_EVENTS,
    BackgroundPhase,
    BackgroundWork,
    CallerSpeechEnded,
    CallerSpeechStarted,
    CallerText,
    Event,
    Health,
    HealthChanged,
    InputTranscript,
    Interrupted,
    ModelAudio,
    OperatorAlert,
    RecoveryFinished,
    RecoveryStarted,
    Rung,
    SessionEnded,
    SessionStarted,
    ToolCallFinished,
    ToolResultRouted,
    TurnAnswered,
    TurnComplete,
    UnansweredRule,
    UpstreamClosed,
    Usage,
    Verdict,
    VerdictKind,
)

UTTERANCE_GAP_S = 2.0  # input-transcript fragments closer than this are one utterance
DEFAULT_SILENCE_THRESHOLD_S = 3.0
DEFAULT_INAUDIBLE_LEVEL = 100.0  # the guard's default `inaudible_level` (mean |sample|)


@dataclass
class SessionSummary:
    """What one session amounted to. Small and picklable (reports run in worker processes)."""

    session: str
    path: str
    start_wall: float | None = None
    duration_s: float = 0.0
    model: str = ""
    transport: str = ""
    sdk_version: str = ""
    end_reason: str = ""
    events: int = 0
    bad_lines: int = 0
    caller_turns: int = 0
    answered_turns: int = 0
    unanswered_turns: int = 0
    interrupts: int = 0
    phantom_interrupts: int = 0
    phantom_signature: int = 0  # last_user_tx == "" and last_user_tx_age_ms == -1
    phantom_recovered: int = 0
    phantom_wedged: int = 0
    wedges: int = 0
    wedges_recovered: int = 0
    # today's silences (issue 13)
    inaudible_answers: int = 0  # unanswered turns whose audio was below the audible level
    barge_in_freezes: int = 0
    background_phases: int = 0
    max_background_s: float = 0.0
    background_stalls: int = 0
    cut_answers: int = 0
    setup_timeouts: int = 0
    silence_s: float = 0.0
    max_silence_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    recoveries: Counter[tuple[str, str]] = field(default_factory=Counter)
    closes: Counter[tuple[int, str]] = field(default_factory=Counter)
    input_tokens: int = 0
    output_tokens: int = 0
    gemini_audio_chunks: int = 0
    health: str = Health.HEALTHY
    operator_alerts: int = 0
    derived: bool = False  # verdicts came from replaying the guard, not from the log
    tool_calls: Counter[tuple[str, str]] = field(default_factory=Counter)  # (tool, outcome)
    tool_max_ms: float = 0.0
    tool_rerouted: Counter[str] = field(default_factory=Counter)  # route -> results

    @property
    def outcome(self) -> str:
        """healthy | recovered | wedged: how the session's worst moment ended."""
        if self.phantom_wedged or self.wedges > self.wedges_recovered:
            return "wedged"
        if self.phantom_interrupts or self.wedges or self.unanswered_turns:
            return "recovered"
        if self.background_stalls or self.cut_answers or self.setup_timeouts:
            return "recovered"
        return "healthy"

    @property
    def severity(self) -> tuple[int, ...]:
        """Sort key: the sessions worth looking at first."""
        rank = {"wedged": 2, "recovered": 1, "healthy": 0}[self.outcome]
        return (rank, self.phantom_interrupts + self.wedges, self.unanswered_turns, self.silence_s)

    def as_row(self) -> dict[str, Any]:
        """JSON-ready row for the HTML table."""
        return {
            "session": self.session,
            "start": iso_minute(self.start_wall),
            "duration_s": round(self.duration_s, 1),
            "outcome": self.outcome,
            "turns": self.caller_turns,
            "answered": self.answered_turns,
            "unanswered": self.unanswered_turns,
            "phantoms": self.phantom_interrupts,
            "wedges": self.wedges,
            "recoveries": sum(self.recoveries.values()),
            "silence_s": round(self.silence_s, 1),
            "max_silence_s": round(self.max_silence_s, 1),
            "output_tokens": self.output_tokens,
            "derived": self.derived,
        }


def iso_minute(wall: float | None) -> str:
    if wall is None:
        return "?"
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d %H:%M:%S")


def has_guard_records(events: Iterable[Event]) -> bool:
    return any(isinstance(e, GUARD_EVENTS) for e in events)


def summarize(
    session: str,
    events: list[Event],
    *,
    path: str = "",
    start_wall: float | None = None,
    bad_lines: int = 0,
    derive: str = "auto",
    policy: Any = None,
    silence_threshold_s: float = DEFAULT_SILENCE_THRESHOLD_S,
) -> SessionSummary:
    """Summarise one session's events (in time order).

    derive: "auto" replays the guard when the log has no guard records; "never" does not.
    """
    s = SessionSummary(session=session, path=path, start_wall=start_wall, bad_lines=bad_lines)
    s.events = len(events)
    if not events:
        return s
    if derive == "auto" and not has_guard_records(events):
        derived = derive_verdicts(events, policy)
        if derived is not None:
            events = derived
            s.derived = True
    s.duration_s = max(0.0, events[-1].t - events[0].t) if len(events) > 1 else 0.0
    # caller-turn tracking for silence and recovered/wedged
    has_vad = any(isinstance(e, CallerSpeechEnded) for e in events)
    run = _Running(float(getattr(policy, "inaudible_level", DEFAULT_INAUDIBLE_LEVEL)))
    _count_waits(s, _caller_waits(events, has_vad, run.quiet_below), silence_threshold_s)
    utterance_end = _utterance_end_checker(has_vad)
    for e in events:
        if isinstance(e, Verdict):
            _count_verdict(s, e, run.watchers)
        else:
            _count_event(s, e, run)
        if utterance_end(e):
            for w in run.watchers:
                w.caller_turn()
    _finish(s, events, run)
    return s


@dataclass
class _Running:
    """What `summarize` keeps while it walks a session's events."""

    quiet_below: float  # model audio below this mean |sample| is inaudible to the caller
    watchers: list[_Watch] = field(default_factory=list)
    open_recoveries: Counter[str] = field(default_factory=Counter)
    usage_in: int = 0
    usage_out: int = 0


def _count_waits(s: SessionSummary, waits: list[tuple[float, bool]], threshold_s: float) -> None:
    """Caller turns and the silences after them (only waits past `threshold_s` add up)."""
    for wait, _answered in waits:
        s.caller_turns += 1
        s.max_silence_s = max(s.max_silence_s, wait)
        if wait > threshold_s:
            s.silence_s += wait


def _count_verdict(s: SessionSummary, e: Verdict, watchers: list[_Watch]) -> None:
    """One guard verdict; phantoms and wedges get a watcher for what followed them."""
    if e.kind == VerdictKind.PHANTOM_INTERRUPT:
        s.phantom_interrupts += 1
        watchers.append(_Watch("phantom"))
    elif e.kind == VerdictKind.UNANSWERED_TURN:
        s.unanswered_turns += 1
        rule = e.evidence.get("rule")
        s.inaudible_answers += rule == UnansweredRule.INAUDIBLE_ANSWER
        s.barge_in_freezes += rule == UnansweredRule.BARGE_IN_FREEZE
    elif e.kind == VerdictKind.BACKGROUND_STALL:
        s.background_stalls += 1
    elif e.kind == VerdictKind.CUT_ANSWER:
        s.cut_answers += 1
    elif e.kind == VerdictKind.SETUP_TIMEOUT:
        s.setup_timeouts += 1
    elif e.kind == VerdictKind.WEDGE:
        s.wedges += 1
        # a wedge is judged after the unanswered turn: the next answer recovers it
        watchers.append(_Watch("wedge", waiting=True))


def _count_event(s: SessionSummary, e: Event, run: _Running) -> None:
    """Every other event the summary counts: audio, answers, recoveries, closes, tokens."""
    if isinstance(e, ModelAudio):
        s.gemini_audio_chunks = max(s.gemini_audio_chunks, e.gemini_audio_chunks)
        if not 0 <= e.level < run.quiet_below:  # what the caller could hear
            for w in run.watchers:
                w.audio()
    elif isinstance(e, BackgroundWork):
        if e.phase == BackgroundPhase.START:
            s.background_phases += 1
        else:
            s.max_background_s = max(s.max_background_s, e.duration_s)
    elif isinstance(e, Interrupted):
        s.interrupts += 1
        if e.last_user_tx == "" and e.last_user_tx_age_ms == -1:
            s.phantom_signature += 1
    elif isinstance(e, TurnAnswered):
        s.answered_turns += 1
        s.latencies.append(e.latency_s)
        for w in run.watchers:
            w.answered()
    elif isinstance(e, TurnComplete):
        s.gemini_audio_chunks = max(s.gemini_audio_chunks, e.gemini_audio_chunks)
    elif isinstance(e, RecoveryStarted):
        run.open_recoveries[e.rung] += 1
    elif isinstance(e, RecoveryFinished):
        s.recoveries[(e.rung, e.outcome)] += 1
        if run.open_recoveries.get(e.rung):
            run.open_recoveries[e.rung] -= 1
    elif isinstance(e, UpstreamClosed):
        s.closes[(e.code, e.side)] += 1
    elif isinstance(e, Usage):
        run.usage_in += e.input_tokens
        run.usage_out += e.output_tokens
    else:
        _count_session_event(s, e)


def _count_session_event(s: SessionSummary, e: Event) -> None:
    """The session's own records (start, end, health, operator alerts) and its tool calls."""
    if isinstance(e, HealthChanged):
        s.health = e.state
    elif isinstance(e, SessionStarted):
        s.model = e.model or s.model
        s.transport = e.transport or s.transport
        s.sdk_version = e.sdk_version or s.sdk_version
    elif isinstance(e, SessionEnded):
        s.end_reason = e.reason
        s.input_tokens = e.input_tokens
        s.output_tokens = e.output_tokens
        s.gemini_audio_chunks = max(s.gemini_audio_chunks, e.gemini_audio_chunks)
    elif isinstance(e, OperatorAlert):
        s.operator_alerts += 1
    elif isinstance(e, ToolCallFinished):
        s.tool_calls[(e.tool, e.outcome)] += 1
        s.tool_max_ms = max(s.tool_max_ms, e.duration_ms)
    elif isinstance(e, ToolResultRouted):
        s.tool_rerouted[e.route] += len(e.ids)


def _finish(s: SessionSummary, events: list[Event], run: _Running) -> None:
    """Recoveries left open, tokens (from usage when the end record has none), and what each
    phantom or wedge led to."""
    for rung, n in run.open_recoveries.items():
        if n > 0:
            s.recoveries[(rung, "unfinished")] += n
    if not any(isinstance(e, SessionEnded) for e in events[-3:]):
        s.input_tokens, s.output_tokens = run.usage_in, run.usage_out
    elif s.input_tokens == 0 and s.output_tokens == 0:
        s.input_tokens, s.output_tokens = run.usage_in, run.usage_out
    for w in run.watchers:
        if w.kind == "phantom":
            if w.recovered:
                s.phantom_recovered += 1
            elif w.waiting:
                s.phantom_wedged += 1
        elif w.recovered:
            s.wedges_recovered += 1


class _Watch:
    """After a phantom or a wedge: did model audio answer a later caller turn?"""

    __slots__ = ("kind", "recovered", "waiting")

    def __init__(self, kind: str, waiting: bool = False) -> None:
        self.kind = kind
        self.waiting = waiting  # a caller turn is waiting for an answer
        self.recovered = False

    def caller_turn(self) -> None:
        if not self.recovered:
            self.waiting = True

    def audio(self) -> None:
        if self.waiting:
            self.recovered = True
            self.waiting = False

    answered = audio


def _utterance_end_checker(has_vad: bool):
    """A predicate: does this event end a caller utterance?"""
    if has_vad:
        return lambda e: isinstance(e, CallerSpeechEnded | CallerText)
    state = {"last": None}

    def check(e: Event) -> bool:
        # without local VAD: an utterance counts from its first transcript fragment
        if isinstance(e, CallerText):
            return True
        if isinstance(e, InputTranscript):
            last = state["last"]
            state["last"] = e.t
            return last is None or e.t - last >= UTTERANCE_GAP_S
        return False

    return check


def _caller_waits(
    events: list[Event], has_vad: bool, quiet_below: float = 0.0
) -> list[tuple[float, bool]]:
    """For each caller utterance: seconds from its end to the first audible model audio (or to
    the caller's next utterance / the end of the session if none came), and whether it came.
    Chunks with a measured level below `quiet_below` are audio the caller could not hear."""
    ends: list[float] = []
    starts: list[float] = []
    audio: list[float] = []
    last_tx: float | None = None
    for e in events:
        if isinstance(e, ModelAudio):
            if not 0 <= e.level < quiet_below:
                audio.append(e.t)
        elif has_vad and isinstance(e, CallerSpeechEnded):
            ends.append(e.t)
        elif has_vad and isinstance(e, CallerSpeechStarted):
            starts.append(e.t)
        elif isinstance(e, CallerText):
            starts.append(e.t)
            ends.append(e.t)
        elif not has_vad and isinstance(e, InputTranscript):
            if last_tx is None or e.t - last_tx >= UTTERANCE_GAP_S:
                starts.append(e.t)
                ends.append(e.t)
            else:
                ends[-1] = e.t
            last_tx = e.t
    end_of_session = events[-1].t if events else 0.0
    out: list[tuple[float, bool]] = []
    ai = si = 0
    for end in ends:
        while ai < len(audio) and audio[ai] < end:
            ai += 1
        while si < len(starts) and starts[si] <= end:
            si += 1
        next_start = starts[si] if si < len(starts) else end_of_session
        if ai < len(audio) and audio[ai] <= next_start:
            out.append((audio[ai] - end, True))
        else:
            out.append((max(0.0, next_start - end), False))
    return out


def derive_verdicts(events: list[Event], policy: Any) -> list[Event] | None:
    """Events with the guard's verdicts and answered turns merged in (None if no guard yet)."""
    try:
        from liveguard.report.replay import replay_events
    except ImportError:
        return None
    try:
        decisions = replay_events(events, policy)
    except ImportError:
        return None
    extra = [d.item for d in decisions if isinstance(d.item, Verdict | TurnAnswered)]
    if not extra:
        return events
    merged = sorted([*events, *extra], key=lambda e: e.t)
    return merged


# --------------------------------------------------------------------------- windows


@dataclass
class WindowSummary:
    """Sessions whose start falls in one time window, added up."""

    start: float | None  # None: sessions without a wall-clock time
    length_s: float
    sessions: int = 0
    caller_turns: int = 0
    answered_turns: int = 0
    unanswered_turns: int = 0
    interrupts: int = 0
    phantom_interrupts: int = 0
    phantom_signature: int = 0
    phantom_recovered: int = 0
    phantom_wedged: int = 0
    wedges: int = 0
    wedges_recovered: int = 0
    wedged_sessions: int = 0
    inaudible_answers: int = 0
    barge_in_freezes: int = 0
    background_phases: int = 0
    max_background_s: float = 0.0
    background_stalls: int = 0
    cut_answers: int = 0
    setup_timeouts: int = 0
    silence_s: float = 0.0
    max_silence_s: float = 0.0
    recoveries: Counter[tuple[str, str]] = field(default_factory=Counter)
    closes: Counter[tuple[int, str]] = field(default_factory=Counter)
    derived_sessions: int = 0
    models: Counter[str] = field(default_factory=Counter)
    tool_calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    tool_max_ms: float = 0.0
    tool_rerouted: Counter[str] = field(default_factory=Counter)

    def add(self, s: SessionSummary) -> None:
        self.sessions += 1
        for name in (
            "caller_turns",
            "answered_turns",
            "unanswered_turns",
            "interrupts",
            "phantom_interrupts",
            "phantom_signature",
            "phantom_recovered",
            "phantom_wedged",
            "wedges",
            "wedges_recovered",
            "inaudible_answers",
            "barge_in_freezes",
            "background_phases",
            "background_stalls",
            "cut_answers",
            "setup_timeouts",
            "silence_s",
        ):
            setattr(self, name, getattr(self, name) + getattr(s, name))
        self.max_silence_s = max(self.max_silence_s, s.max_silence_s)
        self.max_background_s = max(self.max_background_s, s.max_background_s)
        self.wedged_sessions += s.outcome == "wedged"
        self.recoveries.update(s.recoveries)
        self.closes.update(s.closes)
        self.derived_sessions += s.derived
        self.tool_calls.update(s.tool_calls)
        self.tool_max_ms = max(self.tool_max_ms, s.tool_max_ms)
        self.tool_rerouted.update(s.tool_rerouted)
        if s.model:
            self.models[s.model] += 1

    def todays_silences(self) -> str:
        """The line on today's silences (issue 13), or "" when there were none."""
        if not (
            self.inaudible_answers
            or self.barge_in_freezes
            or self.background_phases
            or self.background_stalls
            or self.cut_answers
            or self.setup_timeouts
        ):
            return ""
        return (
            f"Inaudible answers: {self.inaudible_answers}; freezes after a barge-in: "
            f"{self.barge_in_freezes}; background work: {self.background_phases} phase(s), "
            f"longest {self.max_background_s:.1f} s, {self.background_stalls} stall(s) past the "
            f"budget; answers cut mid-sentence: {self.cut_answers}; setup timeouts: "
            f"{self.setup_timeouts}."
        )

    def label(self) -> str:
        if self.start is None:
            return "sessions without a wall-clock time"
        a = datetime.fromtimestamp(self.start, UTC)
        b = datetime.fromtimestamp(self.start + self.length_s, UTC)
        fmt = "%Y-%m-%d %H:%M"
        tail = b.strftime("%H:%M" if a.date() == b.date() else fmt)
        return f"{a.strftime(fmt)}–{tail} UTC"

    def paragraph(self) -> str:
        """The incident's "Frequency" paragraph for this window."""
        lines = [
            f"{self.label()}: {self.sessions} session(s), {self.caller_turns} caller turn(s), "
            f"{self.answered_turns} answered, {self.unanswered_turns} unanswered."
        ]
        undecided = self.phantom_interrupts - self.phantom_recovered - self.phantom_wedged
        tail = f", {undecided} with no later caller turn" if undecided else ""
        lines.append(
            f"  Phantom interrupts: {self.phantom_interrupts} "
            f'({self.phantom_signature} interrupt(s) with last_user_tx="" and '
            f"last_user_tx_age_ms=-1); {self.phantom_recovered} recovered, "
            f"{self.phantom_wedged} wedged{tail}."
        )
        lines.append(
            f"  Wedges: {self.wedges} ({self.wedges_recovered} recovered); "
            f"sessions that ended wedged: {self.wedged_sessions}."
        )
        today = self.todays_silences()
        if today:
            lines.append(f"  {today}")
        lines.append(
            f"  Callers spent {self.silence_s:.1f} s in silence (waits over "
            f"{DEFAULT_SILENCE_THRESHOLD_S:g} s for an answer; longest {self.max_silence_s:.1f} s)."
        )
        lines.append(f"  Recoveries by rung: {format_recoveries(self.recoveries)}.")
        lines.append(f"  Upstream closes by code: {format_closes(self.closes)}.")
        if self.tool_calls:
            lines.append(f"  {format_tools(self.tool_calls, self.tool_max_ms, self.tool_rerouted)}")
        if self.derived_sessions:
            lines.append(
                f"  ({self.derived_sessions} session(s) had no guard records; "
                "their verdicts come from replaying the guard.)"
            )
        return "\n".join(lines)


def format_tools(calls: Counter[tuple[str, str]], max_ms: float, rerouted: Counter[str]) -> str:
    """`Tool calls: 3 (lookup_order: 2 ok, 1 timeout); longest 812 ms; ...`."""
    by_tool: dict[str, Counter[str]] = {}
    for (tool, outcome), n in calls.items():
        by_tool.setdefault(tool, Counter())[outcome] += n
    parts = [
        f"{tool}: " + ", ".join(f"{n} {o}" for o, n in sorted(c.items()))
        for tool, c in sorted(by_tool.items())
    ]
    text = f"Tool calls: {sum(calls.values())} ({'; '.join(parts)}); longest {max_ms:.0f} ms"
    if rerouted:
        moved = ", ".join(f"{n} {route}" for route, n in sorted(rerouted.items()))
        text += f"; results re-routed after reconnects: {moved}"
    return text + "."


def format_recoveries(recoveries: Counter[tuple[str, str]]) -> str:
    if not recoveries:
        return "none"
    by_rung: dict[str, Counter[str]] = {}
    for (rung, outcome), n in recoveries.items():
        by_rung.setdefault(rung, Counter())[outcome] += n
    order = list(Rung)
    parts = []
    for rung in sorted(by_rung, key=lambda r: (order.index(r) if r in order else 99, r)):
        outcomes = by_rung[rung]
        detail = ", ".join(f"{o} {n}" for o, n in sorted(outcomes.items()))
        parts.append(f"{rung} {sum(outcomes.values())} ({detail})")
    return "; ".join(parts)


def format_closes(closes: Counter[tuple[int, str]]) -> str:
    if not closes:
        return "none"
    by_code: dict[int, Counter[str]] = {}
    for (code, side), n in closes.items():
        by_code.setdefault(code, Counter())[side] += n
    parts = []
    for code in sorted(by_code):
        sides = by_code[code]
        detail = ", ".join(f"{side} {n}" for side, n in sorted(sides.items()))
        parts.append(f"{code} ×{sum(sides.values())} ({detail})")
    return "; ".join(parts)


class Aggregate:
    """Adds sessions into time windows (by session start) and overall, as they stream by."""

    def __init__(self, window_s: float | None = 3600.0) -> None:
        self.window_s = window_s
        self.windows: dict[float | None, WindowSummary] = {}
        self.total = WindowSummary(start=None, length_s=0.0)

    def add(self, s: SessionSummary) -> None:
        key: float | None = None
        if s.start_wall is not None and self.window_s:
            key = s.start_wall - (s.start_wall % self.window_s)
        w = self.windows.get(key)
        if w is None:
            w = self.windows[key] = WindowSummary(start=key, length_s=self.window_s or 0.0)
        w.add(s)
        self.total.add(s)

    def ordered(self) -> list[WindowSummary]:
        timed = sorted((w for k, w in self.windows.items() if k is not None), key=lambda w: w.start)
        untimed = [w for k, w in self.windows.items() if k is None]
        return timed + untimed

    def window_of(self, s: SessionSummary) -> WindowSummary | None:
        if s.start_wall is None or not self.window_s:
            return self.windows.get(None)
        return self.windows.get(s.start_wall - (s.start_wall % self.window_s))

    def text(self) -> str:
        parts = [w.paragraph() for w in self.ordered()]
        if len(self.windows) > 1:
            total = self.total.paragraph().split("\n", 1)
            parts.append("All windows: " + total[0].split(": ", 1)[1] + "\n" + total[1])
        return "\n\n".join(parts)


def parse_window(text: str) -> float:
    """`30m`, `1h`, `6h`, `1d`, `90s` or plain seconds."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text and text[-1] in units:
            value = float(text[:-1]) * units[text[-1]]
        else:
            value = float(text)
    except ValueError:
        raise ValueError(f"bad window {text!r}: use e.g. 30m, 1h, 6h, 1d") from None
    if not value > 0:
        raise ValueError(f"bad window {text!r}: must be positive")
    return value
