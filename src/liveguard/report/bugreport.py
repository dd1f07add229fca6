"""A ready-to-file upstream bug report (markdown) for one session, laid out as the incident's
author did: model and SDK, evidence with relative `T+` timestamps and the incident's field names
(`turn_complete turn=N` with `gemini_audio_chunks`, the `interrupted` line with `last_user_tx` and
`last_user_tx_age_ms`), final session tokens, frequency across sessions, and what the log rules
out on the client's side. Only facts the log holds are stated; the rest is left for the filer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from liveguard.events import (
    ActivitySignal,
    BackgroundWork,
    CallerSpeechEnded,
    CallerText,
    Event,
    GoAway,
    InputTranscript,
    Interrupted,
    ModelAudio,
    OperatorAlert,
    OutputTranscript,
    PlayoutCleared,
    RecoveryFinished,
    RecoveryStarted,
    ResumptionUpdate,
    SessionEnded,
    SessionStarted,
    TurnComplete,
    UpstreamClosed,
    UpstreamConnected,
    Verdict,
    VerdictKind,
)
from liveguard.report.summary import SessionSummary

MAX_EVIDENCE_LINES = 60
MAX_EXCERPT_RECORDS = 30
UTTERANCE_GAP_S = 2.0


_TROUBLE = frozenset(
    {
        VerdictKind.UNANSWERED_TURN,
        VerdictKind.WEDGE,
        VerdictKind.BACKGROUND_STALL,
        VerdictKind.CUT_ANSWER,
        VerdictKind.SETUP_TIMEOUT,
    }
)
INAUDIBLE_LEVEL = 100.0  # the guard's default `inaudible_level`: quieter chunks are not heard


def _inaudible(e: ModelAudio) -> bool:
    return 0 <= e.level < INAUDIBLE_LEVEL


def _is_phantom_signature(e: Interrupted) -> bool:
    return e.last_user_tx == "" and e.last_user_tx_age_ms == -1


def _anchor(events: Sequence[Event]) -> tuple[int, str]:
    """Index of the evidence's T+0 event and why: the turn_complete just before the first
    suspicious interrupt (as in the incident), else before the first verdict, else the start."""
    phantom_ts = {
        e.t for e in events if isinstance(e, Verdict) and e.kind == VerdictKind.PHANTOM_INTERRUPT
    }
    target = None
    for i, e in enumerate(events):
        if isinstance(e, Interrupted) and (
            _is_phantom_signature(e) or any(abs(e.t - t) < 0.5 for t in phantom_ts)
        ):
            target = i
            break
    if target is None:
        target = next(
            (i for i, e in enumerate(events) if isinstance(e, Verdict) and e.kind in _TROUBLE),
            None,
        )
    if target is None:
        return 0, "session start"
    verdict = events[target]
    if isinstance(verdict, Verdict) and "utterance_start_t" in verdict.evidence:
        # start before the caller's utterance, so the evidence shows what it got
        before = float(verdict.evidence.get("utterance_start_t") or verdict.t)
        while target > 0 and events[target].t >= before:
            target -= 1
    for j in range(target, -1, -1):
        if isinstance(events[j], TurnComplete):
            tc = events[j]
            return j, f"turn_complete turn={tc.turn}"
    return target, events[target].name


def _quote(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return json.dumps(text if len(text) <= limit else text[: limit - 1] + "…", ensure_ascii=False)


def evidence_lines(events: Sequence[Event], start: int) -> list[str]:
    """The incident-style evidence, one line per meaningful event from `events[start]` on."""
    ev = _Evidence(events[start].t)
    for e in events[start:]:
        rel = f"T+{e.t - ev.t0:.1f}s"
        if isinstance(e, InputTranscript):
            ev.transcript(e)
            continue
        if isinstance(e, ModelAudio):
            ev.model_audio(e, rel)
            continue
        if isinstance(e, CallerSpeechEnded | CallerText):
            ev.audio_since_caller = False
        line = _event_line(e, rel)
        if line is not None:
            ev.flush_tx()
            ev.lines.append(line)
        if len(ev.lines) >= MAX_EVIDENCE_LINES:
            ev.lines.append("… (evidence cut; see the attached log)")
            break
    ev.flush_tx()
    return ev.lines


class _Evidence:
    """The evidence lines so far, input transcripts grouped into one line per utterance, and
    whether the first model audio after the caller's last turn was reported yet."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.lines: list[str] = []
        self.tx_parts: list[str] = []
        self.tx_t: float | None = None
        self.last_tx_t: float | None = None
        self.audio_since_caller = True  # report the first model audio after each caller turn

    def transcript(self, e: InputTranscript) -> None:
        if self.last_tx_t is not None and e.t - self.last_tx_t >= UTTERANCE_GAP_S:
            self.flush_tx()
        if self.tx_t is None:
            self.tx_t = e.t
        self.tx_parts.append(e.text)
        self.last_tx_t = e.t
        self.audio_since_caller = False

    def model_audio(self, e: ModelAudio, rel: str) -> None:
        if self.audio_since_caller:
            return
        self.flush_tx()
        level = ""
        if e.level >= 0:
            heard = "INAUDIBLE" if _inaudible(e) else "audible"
            level = f", level mean |x|={e.level:g}: {heard}"
        self.lines.append(
            f"{rel} model audio arrives (turn={e.turn}, "
            f"gemini_audio_chunks={e.gemini_audio_chunks}{level})"
        )
        self.audio_since_caller = True

    def flush_tx(self) -> None:
        if self.tx_t is not None:
            self.lines.append(
                f"T+{self.tx_t - self.t0:.1f}s input_transcription fires for user speech: "
                f"{_quote(''.join(self.tx_parts))}"
            )
        self.tx_parts.clear()
        self.tx_t = None


def _event_line(e: Event, rel: str) -> str | None:
    """One evidence line for a server, caller or guard event (None: not evidence)."""
    if isinstance(e, TurnComplete):
        return _turn_complete_line(e, rel)
    if isinstance(e, Interrupted):
        return (
            f"{rel} server_content.interrupted=True with last_user_tx={_quote(e.last_user_tx)} "
            f"and last_user_tx_age_ms={e.last_user_tx_age_ms} (skip_audio={e.skip_audio})"
        )
    if isinstance(e, CallerSpeechEnded):
        return f"{rel} caller stops speaking (local VAD, {e.duration_s:.1f}s of speech)"
    if isinstance(e, CallerText):
        return f"{rel} caller text sent: {_quote(e.text)}"
    if isinstance(e, Verdict):
        return f"{rel} liveguard verdict: {e.kind} (turn={e.turn}{_verdict_detail(e)})"
    if isinstance(e, BackgroundWork):
        return (
            f"{rel} background work (interactionStatus IN_PROGRESS) {e.phase}"
            + (f" after {e.duration_s:.1f}s" if e.phase != "start" else "")
            + f", budget {e.budget_s:g}s"
        )
    if isinstance(e, RecoveryStarted):
        return f"{rel} liveguard recovery: {e.rung} (attempt {e.attempt})"
    if isinstance(e, RecoveryFinished):
        return f"{rel} liveguard recovery {e.rung} ended: {e.outcome}"
    if isinstance(e, UpstreamClosed):
        return f"{rel} upstream closed code={e.code} side={e.side} reason={_quote(e.reason)}"
    if isinstance(e, UpstreamConnected):
        return f"{rel} upstream connected (purpose={e.purpose}, resumed={e.resumed})"
    if isinstance(e, GoAway):
        return f"{rel} go_away time_left={e.time_left_s:g}s"
    if isinstance(e, ResumptionUpdate) and not e.resumable:
        return f"{rel} session_resumption_update resumable=False"
    if isinstance(e, OperatorAlert):
        return f"{rel} operator alert: {e.reason}"
    if isinstance(e, SessionEnded):
        return f"{rel} session ends ({e.reason or 'no reason logged'})"
    return None


def _turn_complete_line(e: TurnComplete, rel: str) -> str:
    note = " (greeting" if e.turn == 1 else " ("
    note += (", " if e.turn == 1 else "") + f"turn_audio_chunks={e.turn_audio_chunks})"
    if e.turn_audio_chunks == 0:
        note += ", no model audio"
    reason = f" reason={e.reason}" if e.reason else ""
    if e.interaction_status:
        reason += f" interaction_status={e.interaction_status}"
    if e.waiting_for_input:
        reason += " waiting_for_input=True"
    return (
        f"{rel} turn_complete turn={e.turn} gemini_audio_chunks={e.gemini_audio_chunks}"
        f"{reason}{note}"
    )


def _verdict_detail(e: Verdict) -> str:
    ev = e.evidence
    rule = ev.get("rule")
    if rule == "inaudible_answer":
        return (
            f", rule=inaudible_answer: {ev.get('inaudible_chunks')} chunk(s) at mean |x|="
            f"{ev.get('level_mean')}, max {ev.get('level_max')}"
        )
    return f", rule={rule}" if rule else ""


def _inaudible_section(events: Sequence[Event]) -> list[str]:
    """The inaudible answers laid out as gemini-live-api-examples#40 did: the amplitude of what
    the caller got against the session's audible audio, and what the transcript claimed."""
    cases = [
        e for e in events if isinstance(e, Verdict) and e.evidence.get("rule") == "inaudible_answer"
    ]
    if not cases:
        return []
    heard = [e.level for e in events if isinstance(e, ModelAudio) and e.level >= INAUDIBLE_LEVEL]
    md = ["Inaudible answers (mean absolute PCM16 sample value per 24 kHz chunk):", ""]
    md.append(r"| when | chunks | audio | mean \|x\| | max \|x\| | output_transcription claimed |")
    md.append("|---|---|---|---|---|---|")
    t0 = events[0].t
    for v in cases:
        ev = v.evidence
        said = _claimed(events, v)
        md.append(
            f"| T+{v.t - t0:.1f}s | {ev.get('inaudible_chunks')} | "
            f"{ev.get('inaudible_audio_s', 0):.1f} s | {ev.get('level_mean')} | "
            f"{ev.get('level_max')} | {_quote(said) if said else '(none)'} |"
        )
    md.append("")
    if heard:
        mean = sum(heard) / len(heard)
        md.append(
            f"For comparison, the audible model audio of this session: {len(heard)} chunk(s), "
            f"mean |x| {mean:.0f} (range {min(heard):.0f}–{max(heard):.0f}). Healthy calls in "
            "#40 measured 2,061–10,747; the broken ones 18."
        )
    else:
        md.append("No audible model audio in this session at all (healthy calls measure 2,061+).")
    md.append("")
    return md


def _claimed(events: Sequence[Event], v: Verdict) -> str:
    """The output transcript of the model turn the verdict judged (what the model 'said')."""
    parts = [
        e.text
        for e in events
        if isinstance(e, OutputTranscript)
        and e.t <= v.t
        and e.t >= float(v.evidence.get("utterance_end_t") or 0.0)
    ]
    return "".join(parts).strip()


def _title(summary: SessionSummary, events: Sequence[Event]) -> str:
    signature = any(isinstance(e, Interrupted) and _is_phantom_signature(e) for e in events)
    if summary.phantom_interrupts or signature:
        if summary.phantom_wedged or summary.outcome == "wedged" or summary.wedges:
            return (
                "Live API: phantom server_content.interrupted=True with no user audio wedges "
                "model into zero-audio state"
            )
        return "Live API: phantom server_content.interrupted=True with no user audio"
    if summary.inaudible_answers:
        return (
            "Live API: model audio arrives at near-zero amplitude (inaudible) while "
            "output_transcription claims speech"
        )
    if summary.background_stalls:
        return "Live API: interactionStatus IN_PROGRESS is never followed by output"
    if summary.unanswered_turns or summary.wedges:
        return "Live API: model produces zero audio for user turns while input_transcription fires"
    if summary.cut_answers:
        return "Live API: turnComplete arrives mid-sentence, the answer's audio stops abruptly"
    if summary.setup_timeouts:
        return "Live API: setupComplete never arrives"
    return "Live API: session report"


def _ruled_out(events: Sequence[Event], start: int) -> list[str]:
    window = events[start:]
    interrupts = [e for e in window if isinstance(e, Interrupted)]
    out = []
    if interrupts:
        out.append(
            "not a client-synthesized interrupt: `interrupted` came in server_content from the "
            "service; liveguard never emits it itself"
        )
    signals = [e for e in window if isinstance(e, ActivitySignal)]
    clears = [e for e in window if isinstance(e, PlayoutCleared)]
    if not signals:
        out.append("not client-side barge-in: no client activity signal sent in the window")
    if not clears:
        out.append("no playout clear at the caller in the window")
    if interrupts and not any(e.skip_audio for e in interrupts):
        out.append(
            "not audio dropped by our relay: skip_audio=False throughout the post-interrupt "
            "window; any model audio would have been forwarded"
        )
    closes = [e for e in window if isinstance(e, UpstreamClosed) and e.side == "server"]
    if not closes:
        out.append("not a network disconnect: no upstream close by the server in the window")
    updates = [e for e in events if isinstance(e, ResumptionUpdate)]
    if updates:
        last = updates[-1]
        state = "valid (resumable=True)" if last.resumable else "not resumable at the end"
        out.append(f"session_resumption handle state: {state}, {len(updates)} update(s)")
    started = next((e for e in events if isinstance(e, SessionStarted)), None)
    if started is not None:
        out.append(f"VAD mode: {started.vad_mode}-side activity detection")
    return out


def render_bug_report(
    events: Sequence[Event],
    summary: SessionSummary,
    *,
    frequency: str | None = None,
    excerpt: bool = True,
) -> str:
    """Markdown for one session. `frequency` is the report's paragraph for the session's window;
    `excerpt` adds the key records (as JSONL) from T+0 on."""
    if not events:
        return f"# Session {summary.session}\n\nThe log holds no events for this session.\n"
    start, anchor_name = _anchor(events)
    t0 = events[start].t
    started = next((e for e in events if isinstance(e, SessionStarted)), None)
    model = summary.model or (started.model if started else "") or "(model not logged)"
    sdk = summary.sdk_version or (started.sdk_version if started else "") or "(version not logged)"
    when = ""
    if summary.start_wall is not None:
        wall = datetime.fromtimestamp(summary.start_wall + t0, UTC)
        when = f" at {wall.strftime('%Y-%m-%d %H:%M:%S')} UTC"
    md = [f"# {_title(summary, events)}", ""]
    md.append(f"Model: {model}.")
    md.append(f"SDK: google-genai Python {sdk}. Transport: {summary.transport or 'unknown'}.")
    md.append("Region: (fill in).")
    md.append("")
    after = [e for e in events[start:] if isinstance(e, TurnComplete)]
    silent = [e for e in after if e.turn_audio_chunks == 0]
    tx = sum(1 for e in events[start:] if isinstance(e, InputTranscript | CallerText))
    summary_line = (
        f"Session `{summary.session}`: {summary.caller_turns} caller turn(s), "
        f"{summary.answered_turns} answered, {summary.unanswered_turns} unanswered; "
        f"{len(silent)} of {len(after)} turn_complete(s) from T+0 on carried no model audio"
        f"{' while input_transcription fired' if tx else ''}. "
        f"Longest caller wait for an answer: {summary.max_silence_s:.1f} s."
    )
    md += [summary_line, ""]
    md.append(f"Evidence from one session, timestamps relative (T+0.0s = {anchor_name}{when}):")
    md.append("")
    md += [f"- {line}" for line in evidence_lines(events, start)]
    md.append("")
    md += _inaudible_section(events)
    md.append(
        f"Final session tokens: input={summary.input_tokens}, output={summary.output_tokens}. "
        f"gemini_audio_chunks={summary.gemini_audio_chunks} at the end (the count of audio chunks "
        "produced by the model this session)."
    )
    md.append("")
    if frequency:
        md += ["Frequency (liveguard report over our logs):", "", "```", frequency, "```", ""]
    md.append("Ruled out on our side (from the session log):")
    md.append("")
    md += [f"- {line}" for line in _ruled_out(events, start)]
    md.append("")
    md += _questions(summary)
    if excerpt:
        md += _excerpt(events, start)
    md.append("Generated by `liveguard report` from the session's event log.")
    return "\n".join(md) + "\n"


def _questions(summary: SessionSummary) -> list[str]:
    if summary.inaudible_answers and not summary.phantom_interrupts:
        return [
            "Questions:",
            "",
            "1. Why does the model send full-length audio whose samples are near zero while "
            "output_transcription says it spoke?",
            "2. Is there a server-side signal that a response's audio is silent, so clients need "
            "not measure it?",
            "",
        ]
    return [
        "Questions:",
        "",
        "1. Why does server_content.interrupted=True fire when no client audio has been "
        "transmitted and no input_transcription has occurred?",
        "2. Why does the model emit zero audio for subsequent user turns after this event, even "
        "though input_transcription continues firing?",
        "3. Is there a documented recovery path for a session in this state short of a full "
        "reconnect?",
        "",
    ]


def _excerpt(events: Sequence[Event], start: int) -> list[str]:
    """The key records from T+0 on (as JSONL), with the first chunks of any inaudible audio."""
    keep = {
        "background",
        "turn_complete",
        "interrupted",
        "upstream_closed",
        "session_end",
        "verdict",
        "recovery_start",
        "recovery_end",
    }
    quiet = 0
    records = []
    for e in events[start:]:
        if isinstance(e, ModelAudio) and _inaudible(e) and quiet < 3:
            quiet += 1
            records.append(e.to_record())
        elif e.name in keep:
            records.append(e.to_record())
    if not records:
        return []
    md = ["<details><summary>Log excerpt (liveguard JSONL)</summary>", "", "```json"]
    md += [json.dumps(r, ensure_ascii=False) for r in records[:MAX_EXCERPT_RECORDS]]
    return [*md, "```", "", "</details>", ""]
