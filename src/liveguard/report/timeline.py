"""A session's timeline as one inline SVG: what the caller said, what the model played, what the
server and the guard did, on one time axis.

Lanes, top to bottom: caller speech (local VAD, or input-transcript bursts when there is no VAD),
what the caller said (transcripts), model audio as played (chunks laid end to end at 24 kHz, cut at
an interrupt or a playout clear), what the model said, server signals (turn_complete, interrupted,
GoAway, upstream connects/closes), and the guard (health, verdicts, recoveries). Every mark has a
`<title>` tooltip with the incident's field names. All text is escaped: transcripts come from
callers and must never become markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from liveguard.events import (
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
    Interrupted,
    ModelAudio,
    OperatorAlert,
    Outcome,
    OutputTranscript,
    PlayoutCleared,
    RecoveryFinished,
    RecoveryStarted,
    ToolCall,
    ToolCallCancelled,
    ToolCallFinished,
    ToolCallStarted,
    ToolResponse,
    ToolResultRouted,
    TurnComplete,
    UpstreamClosed,
    UpstreamConnected,
    Verdict,
    VerdictKind,
)

MODEL_AUDIO_BYTES_PER_S = 24000 * 2  # PCM16 mono at 24 kHz
LANES = ("caller speech", "caller said", "model audio", "model said", "server", "tools", "guard")
HEALTH_COLORS = {
    Health.HEALTHY: "#d8f0d8",
    Health.SUSPECT: "#fff0b3",
    Health.WEDGED: "#f7c6c6",
    Health.RECOVERING: "#cfe0ff",
    Health.FAILED: "#e0a0a0",
}
VERDICT_COLORS = {
    VerdictKind.PHANTOM_INTERRUPT: "#d62728",
    VerdictKind.UNANSWERED_TURN: "#ff7f0e",
    VerdictKind.WEDGE: "#8b0000",
    VerdictKind.REAL_INTERRUPT: "#7f7f7f",
    VerdictKind.CONFIG_ERROR: "#9467bd",
    VerdictKind.BACKGROUND_STALL: "#e377c2",
    VerdictKind.CUT_ANSWER: "#bcbd22",
    VerdictKind.SETUP_TIMEOUT: "#8c564b",
}
AUDIBLE_COLOR, INAUDIBLE_COLOR = "#2ca02c", "#b0b0b0"
BACKGROUND_COLOR = "#e5d8f0"
#: chunks quieter than this (mean |sample|) are drawn as inaudible (the guard's default level)
INAUDIBLE_LEVEL = 100.0
OUTCOME_COLORS = {
    Outcome.ANSWERED: "#2ca02c",
    Outcome.DONE: "#2ca02c",
    Outcome.FAILED: "#d62728",
    Outcome.TIMEOUT: "#ff7f0e",
}
TOOL_OUTCOME_COLORS = {"ok": "#2ca02c", "cancelled": "#7f7f7f", "timeout": "#ff7f0e"}
UTTERANCE_GAP_S = 2.0
MAX_TEXT = 300


@dataclass(slots=True)
class _Span:
    start: float
    end: float
    title: str
    color: str


@dataclass(slots=True)
class _Mark:
    t: float
    title: str
    color: str
    shape: str = "tick"  # tick | dot | diamond | cross


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


_CALLER_EVENTS = (CallerSpeechStarted, CallerSpeechEnded, InputTranscript, CallerText)
_MODEL_EVENTS = (ModelAudio, OutputTranscript, BackgroundWork, PlayoutCleared)
_SERVER_EVENTS = (TurnComplete, Interrupted, GoAway, UpstreamClosed, UpstreamConnected)
_GUARD_EVENTS = (HealthChanged, Verdict, RecoveryStarted, RecoveryFinished, OperatorAlert)


def _layout(events: Sequence[Event]) -> tuple[dict[str, list], float, float]:
    """Each lane's spans and marks, and the time axis (t0, t1) they cover."""
    lanes = _Lanes(events)
    for e in events:
        lanes.add(e)
    return lanes.finish()


class _Lanes:
    """Lays out one session's events, in time order, onto the timeline's lanes: one method per
    lane family, with the state each needs (open speech, transcript groups, playout, health)."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = events
        self.lanes: dict[str, list] = {name: [] for name in LANES}
        self.t0 = events[0].t
        self.t1 = max(e.t for e in events)
        # caller speech: local VAD when logged, else input-transcript bursts
        self.has_vad = any(isinstance(e, CallerSpeechEnded) for e in events)
        self.speech_start: float | None = None
        # transcripts grouped into utterances / model turns
        self.in_group: list[InputTranscript] = []
        self.out_group: list[OutputTranscript] = []
        self.playout_end = self.t0
        self.audio_span: _Span | None = None
        self.health_state, self.health_since = str(Health.HEALTHY), self.t0
        self.open_recovery: dict[str, RecoveryStarted] = {}
        self.background_start: BackgroundWork | None = None

    def add(self, e: Event) -> None:
        if isinstance(e, _CALLER_EVENTS):
            self._caller(e)
        elif isinstance(e, _MODEL_EVENTS):
            self._model(e)
        elif isinstance(e, _SERVER_EVENTS):
            self._server(e)
        elif isinstance(e, _GUARD_EVENTS):
            self._guard(e)

    # ------------------------------------------------------------------ caller lanes

    def _caller(self, e: Event) -> None:
        rel = e.t - self.t0
        if isinstance(e, CallerSpeechStarted):
            self.speech_start = e.t
        elif isinstance(e, CallerSpeechEnded):
            start = self.speech_start if self.speech_start is not None else e.t - e.duration_s
            self.lanes["caller speech"].append(
                _Span(start, e.t, f"caller speech T+{start - self.t0:.1f}s–T+{rel:.1f}s", "#1f77b4")
            )
            self.speech_start = None
        elif isinstance(e, InputTranscript):
            if self.in_group and e.t - self.in_group[-1].t >= UTTERANCE_GAP_S:
                self._flush_input()
            self.in_group.append(e)
        elif isinstance(e, CallerText):
            self.lanes["caller said"].append(
                _Mark(e.t, f"T+{rel:.1f}s caller text: {_clip(e.text)}", "#17becf", "diamond")
            )

    def _flush_input(self) -> None:
        group, t0 = self.in_group, self.t0
        if not group:
            return
        text = "".join(e.text for e in group).strip()
        a, b = group[0].t, group[-1].t
        self.lanes["caller said"].append(
            _Mark(a, f"T+{a - t0:.1f}s input_transcription: {_clip(text)}", "#1f77b4", "dot")
        )
        if not self.has_vad:
            self.lanes["caller speech"].append(
                _Span(
                    a,
                    max(b, a + 0.3),
                    f"caller speech (from transcripts) T+{a - t0:.1f}s",
                    "#1f77b4",
                )
            )
        group.clear()

    # ------------------------------------------------------------------ model lanes

    def _model(self, e: Event) -> None:
        if isinstance(e, OutputTranscript):
            self.out_group.append(e)
        elif isinstance(e, ModelAudio):
            self._model_audio(e)
        elif isinstance(e, BackgroundWork):
            self._background(e)
        elif isinstance(e, PlayoutCleared):
            self._cut_audio(e.t)

    def _model_audio(self, e: ModelAudio) -> None:
        """Chunks laid end to end as played; runs of one colour merge into one span."""
        dur = e.bytes / MODEL_AUDIO_BYTES_PER_S
        start = max(e.t, self.playout_end)
        self.playout_end = start + dur
        quiet = 0 <= e.level < INAUDIBLE_LEVEL
        color = INAUDIBLE_COLOR if quiet else AUDIBLE_COLOR
        level = f" level={e.level:g}" if e.level >= 0 else ""
        span = self.audio_span
        if span is not None and start - span.end < 0.25 and span.color == color:
            span.end = self.playout_end
            span.title = (
                span.title.split(" | ")[0]
                + f" | gemini_audio_chunks={e.gemini_audio_chunks}{level}"
            )
        else:
            what = "INAUDIBLE model audio" if quiet else "model audio"
            self.audio_span = _Span(
                start,
                self.playout_end,
                f"{what} turn={e.turn} from T+{start - self.t0:.1f}s"
                f" | gemini_audio_chunks={e.gemini_audio_chunks}{level}",
                color,
            )
            self.lanes["model audio"].append(self.audio_span)
        self.t1 = max(self.t1, self.playout_end)

    def _background(self, e: BackgroundWork) -> None:
        if e.phase == BackgroundPhase.START:
            self.background_start = e
            return
        bg = self.background_start
        a = bg.t if bg is not None else e.t - e.duration_s
        self.lanes["model audio"].insert(
            0,
            _Span(
                a,
                e.t,
                f"background work (interactionStatus IN_PROGRESS) T+{a - self.t0:.1f}s, "
                f"{e.t - a:.1f}s, ended: {e.phase}",
                BACKGROUND_COLOR,
            ),
        )
        self.background_start = None

    def _flush_output(self) -> None:
        if not self.out_group:
            return
        text = "".join(e.text for e in self.out_group).strip()
        a = self.out_group[0].t
        self.lanes["model said"].append(
            _Mark(a, f"T+{a - self.t0:.1f}s output_transcription: {_clip(text)}", "#2ca02c", "dot")
        )
        self.out_group.clear()

    def _cut_audio(self, at: float) -> None:
        """Playout stops at `at` (an interrupt, a clear, a lost connection)."""
        if self.audio_span is not None and self.audio_span.end > at:
            self.audio_span.end = max(self.audio_span.start, at)
        self.audio_span = None
        self.playout_end = min(self.playout_end, at)

    # ------------------------------------------------------------------ server lane

    def _server(self, e: Event) -> None:
        rel = e.t - self.t0
        server = self.lanes["server"]
        if isinstance(e, TurnComplete):
            self._flush_output()
            server.append(_Mark(e.t, _turn_complete_title(e, rel), _turn_complete_color(e)))
        elif isinstance(e, Interrupted):
            self._cut_audio(e.t)
            title = (
                f"T+{rel:.1f}s server_content.interrupted=True turn={e.turn} "
                f'last_user_tx="{_clip(e.last_user_tx)}" '
                f"last_user_tx_age_ms={e.last_user_tx_age_ms} "
                f"skip_audio={e.skip_audio}"
            )
            server.append(_Mark(e.t, title, "#ff7f0e", "diamond"))
        elif isinstance(e, GoAway):
            title = f"T+{rel:.1f}s go_away time_left_s={e.time_left_s:g}"
            server.append(_Mark(e.t, title, "#9467bd", "diamond"))
        elif isinstance(e, UpstreamClosed):
            self._cut_audio(e.t)
            title = f"T+{rel:.1f}s upstream_closed code={e.code} side={e.side} {_clip(e.reason)}"
            server.append(_Mark(e.t, title, "#000000", "cross"))
        elif isinstance(e, UpstreamConnected):
            title = (
                f"T+{rel:.1f}s upstream_connected attempt={e.attempt}"
                f" purpose={e.purpose} resumed={e.resumed}"
            )
            server.append(_Mark(e.t, title, "#17becf", "dot"))

    # ------------------------------------------------------------------ guard lane

    def _guard(self, e: Event) -> None:
        rel = e.t - self.t0
        guard = self.lanes["guard"]
        if isinstance(e, HealthChanged):
            if e.t > self.health_since:
                guard.append(self._health_band(e.t))
            self.health_state, self.health_since = e.state, e.t
        elif isinstance(e, Verdict):
            color = VERDICT_COLORS.get(e.kind, "#333333")
            evidence = " ".join(f"{k}={v}" for k, v in sorted(e.evidence.items()))
            title = f"T+{rel:.1f}s verdict {e.kind} turn={e.turn} {_clip(evidence)}"
            guard.append(_Mark(e.t, title, color, "diamond"))
        elif isinstance(e, RecoveryStarted):
            self.open_recovery[e.rung] = e
        elif isinstance(e, RecoveryFinished):
            started = self.open_recovery.pop(e.rung, None)
            a = started.t if started is not None else e.t - e.duration_s
            title = f"T+{rel:.1f}s recovery {e.rung} {e.outcome} after {e.t - a:.1f}s"
            guard.append(_Mark(e.t, title, OUTCOME_COLORS.get(e.outcome, "#333333"), "dot"))
        elif isinstance(e, OperatorAlert):
            title = f"T+{rel:.1f}s operator_alert {_clip(e.reason)}"
            guard.append(_Mark(e.t, title, "#8b0000", "cross"))

    def _health_band(self, until: float) -> _Span:
        state = self.health_state
        color = HEALTH_COLORS.get(state, "#eeeeee")
        return _Span(self.health_since, until, f"health {state}", color)

    # ------------------------------------------------------------------ end of the log

    def finish(self) -> tuple[dict[str, list], float, float]:
        """Close what is still open at the end of the log; returns (lanes, t0, t1)."""
        lanes, t0, t1 = self.lanes, self.t0, self.t1
        self._flush_input()
        self._flush_output()
        lanes["tools"] = _tool_lane(self.events, t0, t1)
        if self.speech_start is not None:
            lanes["caller speech"].append(
                _Span(self.speech_start, t1, "caller speech (no end logged)", "#1f77b4")
            )
        if t1 > self.health_since:
            lanes["guard"].insert(0, self._health_band(t1))
        if self.background_start is not None:
            a = self.background_start.t
            lanes["model audio"].insert(
                0, _Span(a, t1, f"background work T+{a - t0:.1f}s, no end logged", BACKGROUND_COLOR)
            )
        for rung, started in self.open_recovery.items():
            lanes["guard"].append(
                _Mark(started.t, f"recovery {rung} started, no end logged", "#ff7f0e", "dot")
            )
        # health bands first so marks are drawn over them
        lanes["guard"].sort(key=lambda m: 0 if isinstance(m, _Span) else 1)
        return lanes, t0, t1


def _turn_complete_title(e: TurnComplete, rel: float) -> str:
    return (
        f"T+{rel:.1f}s turn_complete turn={e.turn}"
        f" gemini_audio_chunks={e.gemini_audio_chunks}"
        f" turn_audio_chunks={e.turn_audio_chunks}"
        + (f" reason={e.reason}" if e.reason else "")
        + (" waiting_for_input=True" if e.waiting_for_input else "")
        + (f" interaction_status={e.interaction_status}" if e.interaction_status else "")
    )


def _turn_complete_color(e: TurnComplete) -> str:
    """Red for a turn without audio (the incident's shape), grey otherwise."""
    return "#d62728" if e.turn_audio_chunks == 0 else "#888888"


def _tool_lane(events: Sequence[Event], t0: float, t1: float) -> list:
    """Each tool call as a span from its start to its end (tool, outcome, duration); the
    server's call and cancellation, our response and any re-routing after a reconnect as marks."""
    items: list = []
    started: dict[str, ToolCallStarted] = {}
    for e in events:
        rel = e.t - t0
        if isinstance(e, ToolCallStarted):
            started[e.call_id] = e
        elif isinstance(e, ToolCallFinished):
            s = started.pop(e.call_id, None)
            a = s.t if s is not None else e.t - e.duration_ms / 1000
            title = (
                f"T+{a - t0:.1f}s tool {e.tool} call_id={e.call_id} outcome={e.outcome}"
                f" duration_ms={e.duration_ms:g}" + (f" error={_clip(e.error)}" if e.error else "")
            )
            items.append(_Span(a, e.t, title, TOOL_OUTCOME_COLORS.get(e.outcome, "#d62728")))
        elif isinstance(e, ToolCall):
            names = ",".join(e.names)
            items.append(_Mark(e.t, f"T+{rel:.1f}s tool_call {names} ids={e.ids}", "#9467bd"))
        elif isinstance(e, ToolResponse):
            items.append(_Mark(e.t, f"T+{rel:.1f}s tool_response ids={e.ids}", "#2ca02c", "dot"))
        elif isinstance(e, ToolCallCancelled):
            title = f"T+{rel:.1f}s tool_call_cancellation ids={e.ids}"
            items.append(_Mark(e.t, title, "#7f7f7f", "cross"))
        elif isinstance(e, ToolResultRouted):
            title = f"T+{rel:.1f}s tool result {e.route} ids={e.ids}"
            items.append(_Mark(e.t, title, "#ff7f0e", "diamond"))
    for call_id, s in started.items():
        items.append(_Span(s.t, t1, f"tool {s.tool} call_id={call_id}, no end logged", "#d62728"))
    return items


def _tick_step(duration: float) -> float:
    raw = max(duration, 1.0) / 10
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def render_timeline(events: Sequence[Event], *, width: int = 1000, title: str = "") -> str:
    """The SVG markup (a string) for one session's events in time order; empty sessions get a
    placeholder."""
    label_w, lane_h, top, bottom = 110, 22, 18 if title else 4, 22
    height = top + lane_h * len(LANES) + bottom
    plot_w = width - label_w - 30
    if not events:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" height="30">'
            '<text x="4" y="20" font-size="12">no events</text></svg>'
        )
    lanes, t0, t1 = _layout(events)
    span = max(t1 - t0, 1.0)

    def x(t: float) -> float:
        return round(label_w + (t - t0) / span * plot_w, 1)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">'
    ]
    if title:
        out.append(f'<text x="4" y="12" font-weight="bold">{escape(title)}</text>')
    for i, name in enumerate(LANES):
        y = top + i * lane_h
        fill = "#fafafa" if i % 2 else "#f2f2f2"
        out.append(
            f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{lane_h}" fill="{fill}"/>'
        )
        out.append(f'<text x="4" y="{y + 15}">{escape(name)}</text>')
        mid = y + lane_h / 2
        for item in lanes[name]:
            if isinstance(item, _Span):
                x0, x1 = x(item.start), x(item.end)
                w = max(x1 - x0, 1.5)
                out.append(
                    f'<rect x="{x0}" y="{y + 3}" width="{round(w, 1)}" height="{lane_h - 6}" '
                    f'fill="{item.color}" fill-opacity="0.75">'
                    f"<title>{escape(item.title)}</title></rect>"
                )
            else:
                out.append(_mark_svg(item, x(item.t), y, mid, lane_h))
    # axis
    axis_y = top + lane_h * len(LANES)
    out.append(
        f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + plot_w}" y2="{axis_y}" stroke="#999"/>'
    )
    step = _tick_step(span)
    k = 0
    while k * step <= span + 1e-9 and k < 200:
        tx = x(t0 + k * step)
        out.append(f'<line x1="{tx}" y1="{axis_y}" x2="{tx}" y2="{axis_y + 4}" stroke="#999"/>')
        out.append(f'<text x="{tx}" y="{axis_y + 15}" text-anchor="middle">T+{k * step:g}s</text>')
        k += 1
    out.append("</svg>")
    return "".join(out)


def _mark_svg(m: _Mark, cx: float, y: float, mid: float, lane_h: int) -> str:
    tip = f"<title>{escape(m.title)}</title>"
    if m.shape == "dot":
        return f'<circle cx="{cx}" cy="{mid}" r="4" fill="{m.color}">{tip}</circle>'
    if m.shape == "diamond":
        pts = f"{cx},{mid - 6} {cx + 5},{mid} {cx},{mid + 6} {cx - 5},{mid}"
        return f'<polygon points="{pts}" fill="{m.color}">{tip}</polygon>'
    if m.shape == "cross":
        d = f"M{cx - 4},{mid - 4}L{cx + 4},{mid + 4}M{cx - 4},{mid + 4}L{cx + 4},{mid - 4}"
        return f'<path d="{d}" stroke="{m.color}" stroke-width="2">{tip}</path>'
    return (
        f'<line x1="{cx}" y1="{y + 2}" x2="{cx}" y2="{y + lane_h - 2}" stroke="{m.color}" '
        f'stroke-width="2">{tip}</line>'
    )
