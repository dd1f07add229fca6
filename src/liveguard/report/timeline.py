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
    CallerSpeechEnded,
    CallerSpeechStarted,
    CallerText,
    Event,
    GoAway,
    HealthChanged,
    InputTranscript,
    Interrupted,
    ModelAudio,
    OperatorAlert,
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
)

MODEL_AUDIO_BYTES_PER_S = 24000 * 2  # PCM16 mono at 24 kHz
LANES = ("caller speech", "caller said", "model audio", "model said", "server", "tools", "guard")
HEALTH_COLORS = {
    "healthy": "#d8f0d8",
    "suspect": "#fff0b3",
    "wedged": "#f7c6c6",
    "recovering": "#cfe0ff",
    "failed": "#e0a0a0",
}
VERDICT_COLORS = {
    "phantom_interrupt": "#d62728",
    "unanswered_turn": "#ff7f0e",
    "wedge": "#8b0000",
    "real_interrupt": "#7f7f7f",
    "config_error": "#9467bd",
}
OUTCOME_COLORS = {
    "answered": "#2ca02c",
    "done": "#2ca02c",
    "failed": "#d62728",
    "timeout": "#ff7f0e",
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


def _layout(events: Sequence[Event]) -> tuple[dict[str, list], float, float]:
    lanes: dict[str, list] = {name: [] for name in LANES}
    t0 = events[0].t
    t1 = max(e.t for e in events)
    # caller speech
    has_vad = any(isinstance(e, CallerSpeechEnded) for e in events)
    speech_start: float | None = None
    # transcripts grouped into utterances / model turns
    in_group: list[InputTranscript] = []
    out_group: list[OutputTranscript] = []
    playout_end = t0
    audio_span: _Span | None = None
    health_state, health_since = "healthy", t0
    open_recovery: dict[str, RecoveryStarted] = {}

    def flush_input() -> None:
        if not in_group:
            return
        text = "".join(e.text for e in in_group).strip()
        a, b = in_group[0].t, in_group[-1].t
        lanes["caller said"].append(
            _Mark(a, f"T+{a - t0:.1f}s input_transcription: {_clip(text)}", "#1f77b4", "dot")
        )
        if not has_vad:
            lanes["caller speech"].append(
                _Span(
                    a,
                    max(b, a + 0.3),
                    f"caller speech (from transcripts) T+{a - t0:.1f}s",
                    "#1f77b4",
                )
            )
        in_group.clear()

    def flush_output() -> None:
        if not out_group:
            return
        text = "".join(e.text for e in out_group).strip()
        a = out_group[0].t
        lanes["model said"].append(
            _Mark(a, f"T+{a - t0:.1f}s output_transcription: {_clip(text)}", "#2ca02c", "dot")
        )
        out_group.clear()

    def cut_audio(at: float) -> None:
        nonlocal playout_end, audio_span
        if audio_span is not None and audio_span.end > at:
            audio_span.end = max(audio_span.start, at)
        audio_span = None
        playout_end = min(playout_end, at)

    for e in events:
        rel = e.t - t0
        if isinstance(e, CallerSpeechStarted):
            speech_start = e.t
        elif isinstance(e, CallerSpeechEnded):
            start = speech_start if speech_start is not None else e.t - e.duration_s
            lanes["caller speech"].append(
                _Span(start, e.t, f"caller speech T+{start - t0:.1f}s–T+{rel:.1f}s", "#1f77b4")
            )
            speech_start = None
        elif isinstance(e, InputTranscript):
            if in_group and e.t - in_group[-1].t >= UTTERANCE_GAP_S:
                flush_input()
            in_group.append(e)
        elif isinstance(e, CallerText):
            lanes["caller said"].append(
                _Mark(e.t, f"T+{rel:.1f}s caller text: {_clip(e.text)}", "#17becf", "diamond")
            )
        elif isinstance(e, OutputTranscript):
            out_group.append(e)
        elif isinstance(e, ModelAudio):
            dur = e.bytes / MODEL_AUDIO_BYTES_PER_S
            start = max(e.t, playout_end)
            playout_end = start + dur
            if audio_span is not None and start - audio_span.end < 0.25:
                audio_span.end = playout_end
                audio_span.title = (
                    audio_span.title.split(" | ")[0]
                    + f" | gemini_audio_chunks={e.gemini_audio_chunks}"
                )
            else:
                audio_span = _Span(
                    start,
                    playout_end,
                    f"model audio turn={e.turn} from T+{start - t0:.1f}s"
                    f" | gemini_audio_chunks={e.gemini_audio_chunks}",
                    "#2ca02c",
                )
                lanes["model audio"].append(audio_span)
            t1 = max(t1, playout_end)
        elif isinstance(e, TurnComplete):
            flush_output()
            title = (
                f"T+{rel:.1f}s turn_complete turn={e.turn}"
                f" gemini_audio_chunks={e.gemini_audio_chunks}"
                f" turn_audio_chunks={e.turn_audio_chunks}"
                + (f" reason={e.reason}" if e.reason else "")
            )
            color = "#d62728" if e.turn_audio_chunks == 0 else "#888888"
            lanes["server"].append(_Mark(e.t, title, color, "tick"))
        elif isinstance(e, Interrupted):
            cut_audio(e.t)
            title = (
                f"T+{rel:.1f}s server_content.interrupted=True turn={e.turn} "
                f'last_user_tx="{_clip(e.last_user_tx)}" '
                f"last_user_tx_age_ms={e.last_user_tx_age_ms} "
                f"skip_audio={e.skip_audio}"
            )
            lanes["server"].append(_Mark(e.t, title, "#ff7f0e", "diamond"))
        elif isinstance(e, PlayoutCleared):
            cut_audio(e.t)
        elif isinstance(e, GoAway):
            lanes["server"].append(
                _Mark(
                    e.t, f"T+{rel:.1f}s go_away time_left_s={e.time_left_s:g}", "#9467bd", "diamond"
                )
            )
        elif isinstance(e, UpstreamClosed):
            cut_audio(e.t)
            lanes["server"].append(
                _Mark(
                    e.t,
                    f"T+{rel:.1f}s upstream_closed code={e.code} side={e.side} {_clip(e.reason)}",
                    "#000000",
                    "cross",
                )
            )
        elif isinstance(e, UpstreamConnected):
            lanes["server"].append(
                _Mark(
                    e.t,
                    f"T+{rel:.1f}s upstream_connected attempt={e.attempt}"
                    f" purpose={e.purpose} resumed={e.resumed}",
                    "#17becf",
                    "dot",
                )
            )
        elif isinstance(e, HealthChanged):
            if e.t > health_since:
                lanes["guard"].append(
                    _Span(
                        health_since,
                        e.t,
                        f"health {health_state}",
                        HEALTH_COLORS.get(health_state, "#eeeeee"),
                    )
                )
            health_state, health_since = e.state, e.t
        elif isinstance(e, Verdict):
            color = VERDICT_COLORS.get(e.kind, "#333333")
            evidence = " ".join(f"{k}={v}" for k, v in sorted(e.evidence.items()))
            lanes["guard"].append(
                _Mark(
                    e.t,
                    f"T+{rel:.1f}s verdict {e.kind} turn={e.turn} {_clip(evidence)}",
                    color,
                    "diamond",
                )
            )
        elif isinstance(e, RecoveryStarted):
            open_recovery[e.rung] = e
        elif isinstance(e, RecoveryFinished):
            started = open_recovery.pop(e.rung, None)
            a = started.t if started is not None else e.t - e.duration_s
            lanes["guard"].append(
                _Mark(
                    e.t,
                    f"T+{rel:.1f}s recovery {e.rung} {e.outcome} after {e.t - a:.1f}s",
                    OUTCOME_COLORS.get(e.outcome, "#333333"),
                    "dot",
                )
            )
        elif isinstance(e, OperatorAlert):
            lanes["guard"].append(
                _Mark(e.t, f"T+{rel:.1f}s operator_alert {_clip(e.reason)}", "#8b0000", "cross")
            )
    flush_input()
    flush_output()
    lanes["tools"] = _tool_lane(events, t0, t1)
    if speech_start is not None:
        lanes["caller speech"].append(
            _Span(speech_start, t1, "caller speech (no end logged)", "#1f77b4")
        )
    if t1 > health_since:
        lanes["guard"].insert(
            0,
            _Span(
                health_since,
                t1,
                f"health {health_state}",
                HEALTH_COLORS.get(health_state, "#eeeeee"),
            ),
        )
    for rung, started in open_recovery.items():
        lanes["guard"].append(
            _Mark(started.t, f"recovery {rung} started, no end logged", "#ff7f0e", "dot")
        )
    # health bands first so marks are drawn over them
    lanes["guard"].sort(key=lambda m: 0 if isinstance(m, _Span) else 1)
    return lanes, t0, t1


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
