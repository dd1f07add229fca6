"""Scripts for `liveguard call`: what the simulated caller says and does, validated.

A script is YAML (or the same structure in Python):

    name: three-turns
    description: optional text
    parameters: {caller: "+15550100"}   # optional: Twilio customParameters in `start`
    steps:
      - wait_answer: 10        # wait for the greeting (model audio, then quiet), timeout 10 s
      - say: check_order       # speak a shipped clip (or a WAV file path), then silence frames
      - wait_answer: 8
      - pause: 1.5             # silence frames for 1.5 s
      - dtmf: "5"              # a keypad digit; the model's answer is waited for like a turn
      - barge_in: order_number # speak while the model is talking ...
        after: 0.6             # ... 0.6 s after its audio started playing
      - hangup                 # optional: end the call (also implied at the end)

Every step is a one-key mapping (or the bare word `hangup`); unknown keys, wrong types and bad
values are errors that name the step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SCRIPTS_DIR = Path(__file__).parent / "scripts"


class ScriptError(ValueError):
    """A script that cannot be used, with a message that says where and why."""


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Say(_Step):
    kind: Literal["say"] = "say"
    clip: str = Field(min_length=1)


class Pause(_Step):
    kind: Literal["pause"] = "pause"
    seconds: float = Field(ge=0, le=600)


class Dtmf(_Step):
    kind: Literal["dtmf"] = "dtmf"
    digit: str

    @field_validator("digit")
    @classmethod
    def _one_digit(cls, v: str) -> str:
        if len(v) != 1 or v not in "0123456789*#ABCD":
            raise ValueError(f"a DTMF digit is one of 0-9 * # A-D, got {v!r}")
        return v


class BargeIn(_Step):
    kind: Literal["barge_in"] = "barge_in"
    clip: str = Field(min_length=1)
    after: float = Field(0.5, ge=0, le=60, description="seconds into the model's audio")
    timeout: float = Field(15.0, gt=0, le=600, description="max wait for the model to talk")


class WaitAnswer(_Step):
    kind: Literal["wait_answer"] = "wait_answer"
    timeout: float = Field(10.0, gt=0, le=600)
    quiet: float = Field(0.8, ge=0, le=60, description="silence after playout that ends the answer")


class Hangup(_Step):
    kind: Literal["hangup"] = "hangup"


Step = Annotated[Say | Pause | Dtmf | BargeIn | WaitAnswer | Hangup, Field(discriminator="kind")]


class CallScript(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "script"
    description: str = ""
    parameters: dict[str, str] = Field(default_factory=dict)
    steps: tuple[Step, ...] = Field(min_length=1, max_length=10000)


# one-key shorthand -> (kind, name of the field the bare value fills)
_SHORTHAND = {
    "say": "clip",
    "pause": "seconds",
    "dtmf": "digit",
    "barge_in": "clip",
    "wait_answer": "timeout",
}
_KINDS = (*_SHORTHAND, "hangup")


def _normalise_step(i: int, raw: Any) -> dict[str, Any]:
    where = f"step {i + 1}"
    if raw == "hangup":
        return {"kind": "hangup"}
    if not isinstance(raw, dict) or not raw:
        raise ScriptError(f"{where}: expected a mapping like {{say: CLIP}}, got {raw!r:.60}")
    kinds = [k for k in raw if k in _KINDS]
    if len(kinds) != 1:
        raise ScriptError(
            f"{where}: needs exactly one of {', '.join(_KINDS)}; got keys {sorted(map(str, raw))}"
        )
    kind = kinds[0]
    value = raw[kind]
    rest = {k: v for k, v in raw.items() if k != kind}
    if kind == "hangup":
        return {"kind": "hangup", **rest}
    if isinstance(value, dict):  # long form: {wait_answer: {timeout: 8, quiet: 1}}
        return {"kind": kind, **value, **rest}
    if kind == "dtmf" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return {"kind": kind, _SHORTHAND[kind]: value, **rest}


def parse_script(data: Any, source: str = "script") -> CallScript:
    """Validate a loaded script; raises ScriptError naming `source` and the bad step."""
    if not isinstance(data, dict):
        raise ScriptError(f"{source}: a script is a mapping with a 'steps' list")
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise ScriptError(f"{source}: 'steps' must be a list")
    try:
        normalised = [_normalise_step(i, s) for i, s in enumerate(steps)]
        return CallScript.model_validate({**data, "steps": normalised})
    except ScriptError as exc:
        raise ScriptError(f"{source}: {exc}") from None
    except ValidationError as exc:
        problems = []
        errors = exc.errors()
        if len(errors) > 1:  # a bad step also fails the length check of the tuple: noise
            errors = [
                e for e in errors if not (e["loc"] == ("steps",) and e["type"] == "too_short")
            ]
        for err in errors:
            loc = list(err["loc"])
            if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
                loc = [f"step {loc[1] + 1}", *[str(p) for p in loc[3:]]]
            problems.append(f"{' '.join(map(str, loc)) or 'script'}: {err['msg']}")
        raise ScriptError(f"{source}: " + "; ".join(problems)) from None


def builtin_scripts() -> list[str]:
    """Names of the scripts shipped with liveguard."""
    return sorted(p.stem for p in SCRIPTS_DIR.glob("*.yaml"))


def load_script(name_or_path: str | Path) -> CallScript:
    """A shipped script by name, or a YAML file by path."""
    path = Path(name_or_path)
    if (
        not path.exists()
        and "/" not in str(name_or_path)
        and not str(name_or_path).endswith(".yaml")
    ):
        path = SCRIPTS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            known = ", ".join(builtin_scripts())
            raise ScriptError(f"no script {name_or_path!r}: not a file, and not one of {known}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ScriptError(f"{path}: cannot read script: {exc}") from None
    return parse_script(data, str(path))
