"""Scenario files: how the emulated model behaves and which faults it injects.

A scenario is declarative YAML validated by a strict pydantic schema (unknown keys are errors), so a
typo never silently turns a fault off. All randomness comes from `random.Random` seeded from the
scenario's `seed` (and the connection's ordinal in the emulator), so every run of a scenario is the
same. The format is documented in docs/scenarios.md; built-in scenarios live next to this module in
`scenarios/*.yaml`.
"""

from __future__ import annotations

import random
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from liveguard.emulator.profiles import KNOWN_MODELS, ProfileName, bare_model_name, is_known_model

__all__ = [
    "KNOWN_MODELS",
    "BackgroundWork",
    "CloseFault",
    "Dist",
    "Scenario",
    "ScenarioError",
    "bare_model_name",
    "builtin_scenarios",
    "is_known_model",
    "load_scenario",
    "parse_scenario",
]


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names the file and the field path."""


# --------------------------------------------------------------------------- schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dist(_Strict):
    """A random duration in seconds: exactly one of `fixed`, `uniform` [lo, hi] or `normal`.

    A bare number in YAML means `fixed`. `normal` takes {mean, sd} and is clipped at `min` (0).
    """

    fixed: float | None = Field(default=None, ge=0)
    uniform: tuple[float, float] | None = None
    normal: dict[Literal["mean", "sd"], float] | None = None
    min: float = Field(default=0.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"fixed": value}
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Dist:
        kinds = [k for k in ("fixed", "uniform", "normal") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of fixed, uniform, normal (or a plain number)")
        if self.uniform is not None:
            lo, hi = self.uniform
            if not 0 <= lo <= hi:
                raise ValueError("uniform needs 0 <= lo <= hi")
        if self.normal is not None:
            if set(self.normal) != {"mean", "sd"} or self.normal["sd"] < 0:
                raise ValueError("normal needs mean and sd >= 0")
        return self

    def sample(self, rng: random.Random) -> float:
        if self.fixed is not None:
            return self.fixed
        if self.uniform is not None:
            return rng.uniform(*self.uniform)
        assert self.normal is not None
        return max(self.min, rng.gauss(self.normal["mean"], self.normal["sd"]))


Seconds = Annotated[Dist, Field(description="seconds: a number or a distribution")]


class ToolCallSpec(_Strict):
    """Make the model call a declared function instead of answering straight away."""

    function: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    on_utterance: str | None = None  # a shipped utterance name (or text containing its words)
    on_turn: int | None = Field(default=None, ge=1)  # or: the N-th user turn of a conversation
    reply: str = "order_shipped"  # clip spoken after the tool response arrives
    # NON_BLOCKING calls: a clip the model speaks while the call runs (its own turn), so a result
    # can arrive while it is generating (WHEN_IDLE waits for it; INTERRUPT cuts it off)
    ack: str | None = None

    @model_validator(mode="after")
    def _trigger(self) -> ToolCallSpec:
        if (self.on_utterance is None) == (self.on_turn is None):
            raise ValueError("give exactly one of on_utterance, on_turn")
        return self


class BackgroundWork(_Strict):
    """Requests that need work (extended thinking): filler, IN_PROGRESS, silence, answer, IDLE."""

    on_utterances: list[str] = Field(default_factory=list)  # shipped utterance names
    on_turns: list[int] = Field(default_factory=list)  # or: user turn numbers (greeting prompt = 1)
    filler: str = "still_here"  # reply clip spoken before each background phase
    background_s: Seconds = Dist(fixed=3.0)
    phases: int = Field(default=1, ge=1, le=10)  # background phases, each after a filler

    @model_validator(mode="after")
    def _some_trigger(self) -> BackgroundWork:
        if not self.on_utterances and not self.on_turns:
            raise ValueError("give on_utterances or on_turns (which requests need work)")
        if any(t < 1 for t in self.on_turns):
            raise ValueError("on_turns are user turn numbers, 1 or more")
        return self


class ModelBehaviour(_Strict):
    """The healthy model: latencies, audio chunking, what it says."""

    first_audio_latency_s: Seconds = Dist(uniform=(0.3, 0.6))
    chunk_ms: int = Field(default=40, ge=10, le=1000)
    send_speedup: float = Field(default=4.0, ge=1.0, le=1000.0)
    playback_speed: float = Field(default=1.0, ge=1.0, le=100.0)  # >1 only to make tests quick
    greeting: str = "greeting"
    greeting_chunks: int | None = Field(default=None, ge=1, le=1000)
    replies: dict[str, str] = Field(default_factory=dict)  # utterance name -> reply clip
    fallback_replies: list[str] = Field(
        default_factory=lambda: ["still_here", "ask_order_number", "closing_time"], min_length=1
    )
    placeholder_transcript: str = "[speech]"
    transcript_fragment_words: int = Field(default=2, ge=1, le=50)
    transcription_delay_s: float = Field(default=0.15, ge=0, le=10)
    voice_activity_events: bool = False
    tool_call: ToolCallSpec | None = None
    context_window_tokens: int = Field(default=131072, ge=1000)
    profile: Literal["auto"] | ProfileName = "auto"  # auto: from the model name in the setup
    background_work: BackgroundWork | None = None  # extended thinking: which requests need work


class ConnectionBehaviour(_Strict):
    """Connection-level timing: setup, keepalive, lifetime, resumption handles."""

    setup_delay_s: Seconds = Dist(fixed=0.0)
    pong_delay_s: float = Field(default=0.0, ge=0, le=3600)
    drop_pongs: bool = False
    lifetime_s: float = Field(default=600.0, gt=0)
    goaway_time_left_s: float = Field(default=50.0, ge=0)
    handle_ttl_s: float = Field(default=7200.0, gt=0)

    @model_validator(mode="after")
    def _goaway(self) -> ConnectionBehaviour:
        if self.goaway_time_left_s > self.lifetime_s:
            raise ValueError("goaway_time_left_s must not exceed lifetime_s")
        return self


class _Fault(_Strict):
    probability: float = Field(default=1.0, ge=0, le=1)
    max_times: int | None = Field(default=None, ge=1)  # per emulator process; None = unlimited


class PhantomInterrupt(_Fault):
    """`interrupted: true` after the model's turn N completes, with no user audio at all."""

    after_turn: int = Field(default=1, ge=1)
    delay_s: float = Field(default=0.0, ge=0)
    turn_complete_after_s: float | None = Field(default=3.0, ge=0)
    only_unseeded: bool = True  # skip conversations seeded with history or resumed from a handle


class Wedge(_Fault):
    """Turns complete with zero audio and zero output tokens while input transcription fires."""

    start: Literal["after_phantom", "after_turn"] = "after_phantom"
    after_turn: int = Field(default=1, ge=1)  # with start: after_turn
    turn_complete_reason: Literal["RESPONSE_REJECTED", "PROHIBITED_INPUT_CONTENT"] | None = None
    turn_complete_delay_s: Seconds = Dist(uniform=(0.4, 0.8))
    on_resume: Literal["clears", "keeps_if_handle_after_wedge", "keeps"] = (
        "keeps_if_handle_after_wedge"
    )
    nudge_clear_probability: float = Field(default=0.0, ge=0, le=1)


_CLOSE_REASONS = {
    1000: "",
    1007: "Request contains an invalid argument.",
    1008: "Policy violation.",
    1011: "Internal error encountered.",
}


class CloseFault(_Fault):
    """Close the connection with `code` mid-turn N after K audio chunks, or at a time."""

    code: Literal[1000, 1007, 1008, 1011] = 1011
    reason: str | None = None
    at_turn: int | None = Field(default=None, ge=1)
    after_chunks: int = Field(default=0, ge=0)
    at_s: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _when(self) -> CloseFault:
        if (self.at_turn is None) == (self.at_s is None):
            raise ValueError("give exactly one of at_turn, at_s")
        return self

    def close_reason(self) -> str:
        return self.reason if self.reason is not None else _CLOSE_REASONS[self.code]


class DuplicateTranscriptions(_Strict):
    probability: float = Field(default=0.5, ge=0, le=1)
    output: bool = False  # duplicate output transcription fragments too


class TurnFault(_Fault):
    """A fault on a run of user turns: `turns` turns from user turn `from_turn` on (the greeting
    prompt, when a client sends one, is turn 1). `probability` and `max_times` decide once per
    conversation whether the run happens."""

    from_turn: int = Field(default=2, ge=1)
    turns: int | None = Field(default=1, ge=1)  # None: every turn from `from_turn` on
    on_resume: Literal["clears", "keeps"] = "clears"  # does a resumed connection continue the run?

    def covers(self, turn: int) -> bool:
        return turn >= self.from_turn and (self.turns is None or turn < self.from_turn + self.turns)


class SilentStall(TurnFault):
    """An empty turnComplete (no audio, no reason, no phantom before it); the next turn is fine."""

    turn_complete_delay_s: Seconds = Dist(uniform=(0.4, 0.8))


class RejectedRun(TurnFault):
    """Turns that complete empty with a turnCompleteReason while input transcription goes on."""

    turns: int | None = Field(default=3, ge=1)
    reason: Literal["RESPONSE_REJECTED", "PROHIBITED_INPUT_CONTENT", "MALFORMED_FUNCTION_CALL"] = (
        "RESPONSE_REJECTED"
    )
    turn_complete_delay_s: Seconds = Dist(uniform=(0.4, 0.8))


class InaudibleAnswers(TurnFault):
    """Full-length answers whose samples are scaled to a mean absolute value of `mean_abs`,
    with an output transcription that claims the words were spoken."""

    mean_abs: float = Field(default=18.0, ge=0, le=32767)


class CutAnswer(TurnFault):
    """turnComplete after `fraction` of the answer's audio and words: cut mid-sentence."""

    fraction: float = Field(default=0.5, gt=0, lt=1)


class FreezeAfterBargeIn(_Fault):
    """After the N-th real barge-in on a connection the model never answers again there
    (no audio, no turnComplete); a new connection (a resume) is healthy."""

    after_barge_ins: int = Field(default=1, ge=1)


class ToolNoAnswer(_Fault):
    """After a `toolResponse` the model says nothing: no audio, no turnComplete (today's
    "no answer after a tool response" wedge); the next caller input is answered normally."""


class BackgroundPhase(TurnFault):
    """On any profile: a spoken filler, turnComplete with IN_PROGRESS, `seconds` with no output,
    then the answer and turnComplete with IDLE."""

    seconds: Seconds = Dist(fixed=5.0)
    filler: str = "still_here"


class EndlessBackground(TurnFault):
    """A spoken filler, turnComplete with IN_PROGRESS, then nothing ever again on the connection."""

    filler: str = "still_here"


SetupField = Literal["proactivity", "enable_affective_dialog", "thinking_config", "tools"]


class SetupNeverCompletes(_Fault):
    """setupComplete never arrives (the socket stays open); with `when_setup_has`, only when the
    setup carries one of those fields (reports on 3.1 with proactivity or affective dialog)."""

    when_setup_has: list[SetupField] | None = Field(default=None, min_length=1)


class ResumeRejected(_Fault):
    """A resume of a conversation whose previous connection is still open is closed with `code`
    (the service's reason for it) instead of 1008 "session not found"."""

    code: Literal[1007, 1008, 1011] = 1011
    reason: str | None = None

    def close_reason(self) -> str:
        return self.reason if self.reason is not None else _CLOSE_REASONS[self.code]


class Faults(_Strict):
    phantom_interrupt: PhantomInterrupt | None = None
    wedge: Wedge | None = None
    close: CloseFault | None = None
    duplicate_transcriptions: DuplicateTranscriptions | None = None
    silent_stall: SilentStall | None = None
    rejected_run: RejectedRun | None = None
    inaudible_answers: InaudibleAnswers | None = None
    cut_answer: CutAnswer | None = None
    freeze_after_barge_in: FreezeAfterBargeIn | None = None
    background_phase: BackgroundPhase | None = None
    endless_background: EndlessBackground | None = None
    setup_never_completes: SetupNeverCompletes | None = None
    resume_rejected: ResumeRejected | None = None
    tool_no_answer: ToolNoAnswer | None = None

    @model_validator(mode="after")
    def _wedge_needs_phantom(self) -> Faults:
        if self.wedge and self.wedge.start == "after_phantom" and not self.phantom_interrupt:
            raise ValueError("wedge.start 'after_phantom' needs a phantom_interrupt fault")
        return self


class Scenario(_Strict):
    """One scenario file."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = 0
    model: ModelBehaviour = ModelBehaviour()
    connection: ConnectionBehaviour = ConnectionBehaviour()
    faults: Faults = Faults()

    @model_validator(mode="after")
    def _clips_exist(self) -> Scenario:
        from liveguard.audio.clips import reply_names, utterance_names

        replies, utterances = set(reply_names()), set(utterance_names())

        def need(kind: str, names: set[str], name: str, where: str) -> None:
            if name not in names:
                raise ValueError(f"{where}: unknown {kind} clip {name!r} (known: {sorted(names)})")

        m = self.model
        need("reply", replies, m.greeting, "model.greeting")
        for u, r in m.replies.items():
            need("utterance", utterances, u, f"model.replies.{u}")
            need("reply", replies, r, f"model.replies.{u}")
        for i, r in enumerate(m.fallback_replies):
            need("reply", replies, r, f"model.fallback_replies.{i}")
        if m.tool_call:
            need("reply", replies, m.tool_call.reply, "model.tool_call.reply")
            if m.tool_call.ack is not None:
                need("reply", replies, m.tool_call.ack, "model.tool_call.ack")
            if m.tool_call.on_utterance is not None:
                need("utterance", utterances, m.tool_call.on_utterance, "model.tool_call")
        if m.background_work:
            need("reply", replies, m.background_work.filler, "model.background_work.filler")
            for i, u in enumerate(m.background_work.on_utterances):
                need("utterance", utterances, u, f"model.background_work.on_utterances.{i}")
        for name in ("background_phase", "endless_background"):
            fault = getattr(self.faults, name)
            if fault is not None:
                need("reply", replies, fault.filler, f"faults.{name}.filler")
        return self

    def rng(self, ordinal: int) -> random.Random:
        """The random source of this scenario's `ordinal`-th connection (same for every run)."""
        return random.Random(f"{self.name}:{self.seed}:{ordinal}")


# --------------------------------------------------------------------------- loading


def _builtin_dir():
    return resources.files("liveguard.emulator").joinpath("scenarios")


@cache
def _builtin_files() -> dict[str, str]:
    out = {}
    for entry in _builtin_dir().iterdir():
        if entry.name.endswith(".yaml"):
            out[entry.name.removesuffix(".yaml")] = entry.read_text(encoding="utf-8")
    return out


def builtin_scenarios() -> dict[str, str]:
    """Built-in scenario name -> one-line description."""
    return {
        name: " ".join(load_scenario(name).description.split()) for name in sorted(_builtin_files())
    }


def _format_errors(source: str, err: pydantic.ValidationError) -> str:
    lines = [f"{source}: invalid scenario ({err.error_count()} problem(s))"]
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        lines.append(f"  {path}: {msg}")
    return "\n".join(lines)


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Validate YAML text into a Scenario; ScenarioError names `source` and the field path."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ScenarioError(f"{source}: not valid YAML: {e}") from None
    except (ValueError, TypeError, RecursionError) as e:  # pathological input
        raise ScenarioError(f"{source}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{source}: a scenario must be a YAML mapping, got {type(data).__name__}"
        )
    try:
        return Scenario.model_validate(data)
    except pydantic.ValidationError as e:
        raise ScenarioError(_format_errors(source, e)) from None
    except (ValueError, TypeError, RecursionError) as e:
        raise ScenarioError(f"{source}: invalid scenario: {e}") from None


@cache
def _load_builtin(name: str) -> Scenario:
    return parse_scenario(_builtin_files()[name], f"built-in scenario {name}.yaml")


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A built-in scenario by name, or a YAML file by path."""
    if isinstance(name_or_path, str) and name_or_path in _builtin_files():
        return _load_builtin(name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(_builtin_files()))
        raise ScenarioError(
            f"{name_or_path}: no such scenario file or built-in (built-ins: {known})"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{path}: cannot read: {e}") from None
    return parse_scenario(text, str(path))
