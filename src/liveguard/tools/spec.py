"""The `tools` settings: one entry per function or webhook, checked when the settings load.

Why checked at load: a tool that cannot be imported, a schema that is not a schema or a misspelt
key would otherwise surface in the middle of a call, as a silence. Every problem is reported with
the entry's index and name (`tools[2] (lookup_order): ...`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, Literal

import jsonschema
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
Behavior = Literal["BLOCKING", "NON_BLOCKING"]
Scheduling = Literal["SILENT", "WHEN_IDLE", "INTERRUPT"]


class ToolLimits(BaseModel):
    """Bounds of the tool runner, for every tool of a session."""

    model_config = ConfigDict(extra="forbid")

    max_concurrent: int = Field(4, ge=1, le=64, description="tool calls running at once")
    max_pending: int = Field(
        16, ge=1, le=1024, description="calls running or waiting; beyond: error"
    )
    timeout_s: float = Field(10.0, gt=0, le=600, description="default per-call timeout")
    max_result_bytes: int = Field(
        16384, ge=256, le=1_048_576, description="largest result (JSON) sent to the model"
    )
    filler_after_s: float | None = Field(
        2.0,
        gt=0,
        le=600,
        description="a BLOCKING call running this long plays the filler audio (if configured)",
    )


def check_schema(schema: Any) -> dict[str, Any]:
    """A JSON schema for function arguments: valid (Draft 2020-12) and describing an object."""
    if not isinstance(schema, dict):
        raise ValueError("parameters must be a JSON schema object (a mapping)")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"parameters is not a valid JSON schema: {exc.message}") from None
    if schema.get("type", "object") != "object":
        raise ValueError("parameters must describe an object (type: object): arguments are named")
    return schema


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str | None = None
    parameters: dict[str, Any] | None = None
    behavior: Behavior | None = Field(
        None, description="None = the model's default (NON_BLOCKING on 3.8, BLOCKING elsewhere)"
    )
    scheduling: Scheduling | None = Field(None, description="for NON_BLOCKING results")
    timeout_s: float | None = Field(None, gt=0, le=600)

    @field_validator("parameters")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else check_schema(value)


class FunctionEntry(_Entry):
    """`function: "package.module:callable"`; name, docstring and type hints declare it."""

    function: str
    name: str | None = None
    _target: Callable[..., Any] = PrivateAttr()

    @model_validator(mode="after")
    def _resolve(self) -> FunctionEntry:
        self._target = resolve_callable(self.function)
        name = self.name or getattr(self._target, "__name__", None)
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ValueError(
                f"name {name!r} is not a valid function name (letters, digits, _ . -; set `name`)"
            )
        from liveguard.tools.declarations import function_schema

        function_schema(self._target)  # type hints that cannot become a schema fail here
        return self

    @property
    def target(self) -> Callable[..., Any]:
        return self._target

    @property
    def tool_name(self) -> str:
        return self.name or self._target.__name__  # checked to exist in _resolve


class WebhookEntry(_Entry):
    """`webhook: URL`: the relay POSTs the arguments as JSON and answers with the JSON it gets."""

    webhook: str
    name: str
    description: str
    parameters: dict[str, Any]
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    secret: SecretStr | None = Field(None, description="HMAC-SHA256 key for the body signature")

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"webhook must be an http(s) URL, got {value!r:.80}")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"name {value!r} is not a valid function name")
        return value

    @property
    def tool_name(self) -> str:
        return self.name


ToolEntry = FunctionEntry | WebhookEntry


def resolve_callable(spec: str) -> Callable[..., Any]:
    """Import `package.module:callable` (dots after the colon reach attributes)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"function must look like 'package.module:callable', got {spec!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module failing while it imports
        raise ValueError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{module_name!r} has no attribute {attr!r}") from None
    if not callable(target):
        raise ValueError(f"{spec!r} is not callable")
    return target


def _label(index: int, raw: Any) -> str:
    name = None
    if isinstance(raw, dict):
        name = raw.get("name") or raw.get("function") or raw.get("webhook")
    return f"tools[{index}]" + (f" ({name})" if isinstance(name, str) else "")


def _errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def parse_entry(index: int, raw: Any) -> FunctionEntry | WebhookEntry:
    """One settings entry, or ValueError naming it."""
    if isinstance(raw, FunctionEntry | WebhookEntry):
        return raw
    label = _label(index, raw)
    if not isinstance(raw, dict):
        raise ValueError(f"{label}: an entry must be a mapping with 'function' or 'webhook'")
    if ("function" in raw) == ("webhook" in raw):
        raise ValueError(f"{label}: an entry needs exactly one of 'function' or 'webhook'")
    cls = FunctionEntry if "function" in raw else WebhookEntry
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{label}: {_errors(exc)}") from None


def check_tool_entries(value: Any) -> list[FunctionEntry | WebhookEntry]:
    """The `tools` setting parsed; names must be unique (the model calls tools by name)."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError("tools must be a list of entries")
    entries = [parse_entry(i, raw) for i, raw in enumerate(value)]
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if entry.tool_name in seen:
            raise ValueError(
                f"tools[{i}] ({entry.tool_name}): the name is already used by "
                f"tools[{seen[entry.tool_name]}]"
            )
        seen[entry.tool_name] = i
    return entries
