"""`liveguard doctor SETTINGS.yaml`: explain risky choices in a settings file, in plain words.

Exit codes: 0 nothing risky, 1 at least one warning, 2 the file cannot be read or is invalid.
Notes (tradeoffs worth knowing) are printed but do not change the exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from liveguard.config.doctor_model import Report, check_model, check_tools
from liveguard.config.settings import Settings

# Measured on the real service (docs/research): pongs can take 8-30 s.
SLOW_PONG_S = 30.0
TYPICAL_MODEL_LATENCY_S = 1.0
MAX_CALLER_SILENCE_S = 6.0


@dataclass(frozen=True, slots=True)
class Finding:
    level: str  # "warning" | "note"
    setting: str
    message: str


Check = Callable[[Settings, Path | None, Report, Report], None]  # (settings, base_dir, warn, note)


def check(settings: Settings, base_dir: Path | None = None) -> list[Finding]:
    """Every risky choice in `settings`, warnings first (each family's in `CHECKS` order)."""
    out: list[Finding] = []

    def warn(setting: str, message: str) -> None:
        out.append(Finding("warning", setting, message))

    def note(setting: str, message: str) -> None:
        out.append(Finding("note", setting, message))

    for family in CHECKS:
        family(settings, base_dir, warn, note)
    out.sort(key=lambda f: f.level != "warning")
    return out


def _server_vad(settings: Settings, _base: Path | None, warn: Report, note: Report) -> None:
    """The server's automatic VAD: sensitivities, the silence wait and barge-in."""
    vad, g = settings.vad, settings.guard
    if vad.mode != "server":
        return
    silence_s = (vad.silence_duration_ms or 0) / 1000
    if vad.start_of_speech_sensitivity == "START_SENSITIVITY_HIGH":
        warn(
            "vad.start_of_speech_sensitivity",
            "START_SENSITIVITY_HIGH makes the server detect speech MORE readily, not less: "
            "line echo, noise or the caller's handset replaying the greeting count as speech "
            "and interrupt the model (phantom interrupts). To suppress false positives use "
            "START_SENSITIVITY_LOW.",
        )
    elif vad.start_of_speech_sensitivity is None:
        note(
            "vad.start_of_speech_sensitivity",
            "unset: the service's default is START_SENSITIVITY_HIGH (reacts to the slightest "
            "sound). On noisy phone lines consider START_SENSITIVITY_LOW.",
        )
    if vad.end_of_speech_sensitivity == "END_SENSITIVITY_LOW" and silence_s >= 1.0:
        warn(
            "vad.end_of_speech_sensitivity",
            f"END_SENSITIVITY_LOW with silence_duration_ms={vad.silence_duration_ms}: the "
            "server waits longer to decide the caller has finished, then at least "
            f"{silence_s:g} s of silence more, before the model may start. Every answer is "
            "delayed by that much.",
        )
    elif silence_s >= 1.5:
        warn(
            "vad.silence_duration_ms",
            f"{vad.silence_duration_ms} ms of silence before the caller's turn ends delays "
            "every answer by that much.",
        )
    if g.enabled and silence_s + TYPICAL_MODEL_LATENCY_S >= g.answer_deadline_s:
        warn(
            "guard.answer_deadline_s",
            f"the server's own silence wait ({silence_s:g} s) plus a typical model latency "
            f"(~{TYPICAL_MODEL_LATENCY_S:g} s) reaches the answer deadline "
            f"({g.answer_deadline_s:g} s): healthy but slow answers will be judged unanswered.",
        )
    if vad.activity_handling == "NO_INTERRUPTION":
        warn(
            "vad.activity_handling",
            "NO_INTERRUPTION: callers cannot barge in; the model talks over them until it "
            "finishes, and the guard never sees an interrupt to judge.",
        )


def _client_vad(settings: Settings, _base: Path | None, warn: Report, note: Report) -> None:
    """liveguard's local VAD in charge: its tradeoff, ignored server settings, its hangover."""
    vad = settings.vad
    if vad.mode == "server":
        return
    note(
        "vad.mode",
        "client-side VAD: the server's automatic detection is off and liveguard's local VAD "
        "sends activityStart/activityEnd. No server phantom interrupts from echo or noise, "
        "and turn-taking is under your control; but audio outside an activity is discarded "
        "(speech the local VAD misses is never heard), barge-in depends on the local VAD, "
        "and the local VAD's hangover adds to every answer's latency.",
    )
    server_only = {
        "start_of_speech_sensitivity": vad.start_of_speech_sensitivity,
        "end_of_speech_sensitivity": vad.end_of_speech_sensitivity,
        "prefix_padding_ms": vad.prefix_padding_ms,
        "silence_duration_ms": vad.silence_duration_ms,
    }
    ignored = [k for k, v in server_only.items() if v is not None]
    if ignored:
        warn(
            "vad.mode",
            f"client mode ignores the server VAD settings {', '.join(ignored)}: "
            "they have no effect.",
        )
    if vad.hangover_ms >= 800:
        warn(
            "vad.hangover_ms",
            f"{vad.hangover_ms} ms of hangover: the local VAD ends the caller's turn that "
            "late, and every answer waits for it.",
        )


def _vad_thresholds(settings: Settings, _base: Path | None, warn: Report, _note: Report) -> None:
    """The local VAD's hysteresis, used in both modes (the guard's speech evidence)."""
    vad = settings.vad
    if vad.neg_threshold >= vad.threshold:
        warn(
            "vad.neg_threshold",
            f"neg_threshold ({vad.neg_threshold}) is not below threshold ({vad.threshold}): the "
            "local VAD flickers between speech and silence.",
        )


def _guard_off(settings: Settings, _base: Path | None, warn: Report, _note: Report) -> None:
    if not settings.guard.enabled:
        warn(
            "guard.enabled",
            "the guard is off: phantom interrupts, unanswered turns and wedged sessions go "
            "undetected and unrecovered; callers can sit in silence until they hang up.",
        )


def _guard_deadlines(settings: Settings, _base: Path | None, warn: Report, _note: Report) -> None:
    """How long a caller waits in silence before the guard judges a turn unanswered."""
    g = settings.guard
    if not g.enabled:
        return
    if g.answer_deadline_s >= MAX_CALLER_SILENCE_S:
        warn(
            "guard.answer_deadline_s",
            f"{g.answer_deadline_s:g} s: a caller can sit in silence that long before the "
            "guard even notices (callers hang up after a few seconds of silence).",
        )
    if g.suspect_answer_deadline_s > g.answer_deadline_s:
        warn(
            "guard.suspect_answer_deadline_s",
            "longer than answer_deadline_s: a suspect session should be judged sooner, not later.",
        )


def _guard_recovery(settings: Settings, _base: Path | None, warn: Report, _note: Report) -> None:
    """Whether and when a wedged session is recovered, and what the caller hears at the end."""
    g = settings.guard
    if not g.enabled:
        return
    if g.wedge_unanswered_in_row >= 3:
        warn(
            "guard.wedge_unanswered_in_row",
            f"{g.wedge_unanswered_in_row} unanswered turns in a row before recovery: the "
            "caller has to ask that many times into silence.",
        )
    if g.max_recoveries_per_session == 0:
        warn("guard.max_recoveries_per_session", "0: a wedged session is never recovered.")
    if "fallback" not in g.rungs:
        warn(
            "guard.rungs",
            "no 'fallback' rung: when every other rung fails the caller hears nothing.",
        )


def _guard_phantoms(settings: Settings, _base: Path | None, warn: Report, _note: Report) -> None:
    """How the guard tells a phantom interrupt from a real one, and what it does about it."""
    g = settings.guard
    if not g.enabled:
        return
    if g.flush_on_phantom:
        warn(
            "guard.flush_on_phantom",
            "phantom interrupts will cut the model off mid-sentence although nobody spoke.",
        )
    if g.speech_evidence_window_s > 5:
        warn(
            "guard.speech_evidence_window_s",
            f"{g.speech_evidence_window_s:g} s: speech that long ago still makes an "
            "interrupt look real, so most phantom interrupts go unnoticed.",
        )


def _guard_worst_case(settings: Settings, _base: Path | None, _warn: Report, note: Report) -> None:
    g = settings.guard
    if not g.enabled:
        return
    worst = g.answer_deadline_s + sum(g.rung_deadline_s(r) for r in g.rungs)
    if worst > 2 * MAX_CALLER_SILENCE_S:
        note(
            "guard.rungs",
            f"worst case before the fallback prompt: about {worst:g} s of silence "
            "(answer deadline plus every rung's deadline); a filler_audio helps.",
        )


def _connection(settings: Settings, _base: Path | None, warn: Report, _note: Report) -> None:
    """Timers that decide whether a healthy upstream connection survives."""
    margin = settings.guard.goaway_margin_s
    if margin < 1:
        warn(
            "guard.goaway_margin_s",
            f"{margin:g} s: too little time to rotate before the service aborts the "
            "connection after a GoAway.",
        )
    if settings.ping_timeout_s < SLOW_PONG_S:
        warn(
            "ping_timeout_s",
            f"{settings.ping_timeout_s:g} s: the service's pongs have been measured at 8-30 s; "
            "a shorter timeout drops healthy sessions (1011 keepalive ping timeout).",
        )


def _audio_files(settings: Settings, base_dir: Path | None, warn: Report, _note: Report) -> None:
    """The fallback prompt (needed) and the filler (optional) exist."""
    if settings.fallback_audio is None:
        warn(
            "fallback_audio",
            "not set: when every recovery fails there is no spoken prompt to play.",
        )
    elif not _exists(settings.fallback_audio, base_dir):
        warn("fallback_audio", f"{settings.fallback_audio} does not exist.")
    if settings.filler_audio is not None and not _exists(settings.filler_audio, base_dir):
        warn("filler_audio", f"{settings.filler_audio} does not exist.")


def _exists(path: Path, base_dir: Path | None) -> bool:
    """`path` as given, or else relative to the settings file's folder."""
    if not path.is_absolute() and base_dir is not None and not path.exists():
        path = base_dir / path
    return path.exists()


def _model(settings: Settings, _base: Path | None, warn: Report, note: Report) -> None:
    check_model(settings, warn, note)


def _tools(settings: Settings, _base: Path | None, warn: Report, note: Report) -> None:
    check_tools(settings, warn, note)


# In the order the findings are printed (warnings before notes).
CHECKS: tuple[Check, ...] = (
    _server_vad,
    _client_vad,
    _vad_thresholds,
    _guard_off,
    _guard_deadlines,
    _guard_recovery,
    _guard_phantoms,
    _guard_worst_case,
    _connection,
    _audio_files,
    _model,
    _tools,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("settings", type=Path, help="settings file (YAML)")
    parser.add_argument("--json", action="store_true", help="print findings as JSON lines")


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_file(args.settings)
    except (ValueError, OSError) as exc:
        print(f"liveguard doctor: {args.settings}: {exc}", file=sys.stderr)
        return 2
    findings = check(settings, base_dir=args.settings.parent)
    warnings = sum(1 for f in findings if f.level == "warning")
    if args.json:
        for f in findings:
            print(json.dumps(asdict(f)))
    else:
        for f in findings:
            print(f"{f.level.upper():8} {f.setting}: {f.message}")
        print(
            f"{args.settings}: {warnings} warning(s), {len(findings) - warnings} note(s)"
            if findings
            else f"{args.settings}: nothing risky found"
        )
    return 1 if warnings else 0
