"""Tools as the model sees them (`FunctionDeclaration`) and as the runner calls them (`Tool`).

Why pydantic for the schema: a callable's type hints (or a pydantic model parameter) give both the
JSON schema the model is told and the validation of what it sends back, from one source.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from google.genai import types
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from liveguard.tools.spec import FunctionEntry, ToolEntry, WebhookEntry


class InvalidArguments(ValueError):
    """The model's arguments do not fit the callable's types (after the schema check)."""


Invoke = Callable[[dict[str, Any], str], Awaitable[Any]]  # (arguments, call id)


SYNC_TOOL_THREADS = 8


@functools.cache
def _sync_tool_threads() -> ThreadPoolExecutor:
    """Sync tools' own threads: a tool stuck past its timeout cannot starve the loop's default
    executor (DNS lookups, file reads); at most SYNC_TOOL_THREADS run at once."""
    return ThreadPoolExecutor(SYNC_TOOL_THREADS, thread_name_prefix="liveguard-tool")


@functools.lru_cache(maxsize=256)
def _args_model(fn: Callable[..., Any]) -> tuple[type[BaseModel], str | None]:
    """A pydantic model of `fn`'s arguments, and the name of its single model parameter if any."""
    sig = inspect.signature(fn)
    holder = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__call__
    try:
        hints = typing.get_type_hints(holder, include_extras=True)
    except Exception as exc:
        raise ValueError(f"cannot read the type hints of {fn!r}: {exc}") from None
    params = [p for p in sig.parameters.values() if p.name != "self"]
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            raise ValueError(f"parameter {p.name!r}: tools take named arguments only")
    if len(params) == 1:
        hint = hints.get(params[0].name)
        if isinstance(hint, type) and issubclass(hint, BaseModel):
            return hint, params[0].name
    fields: dict[str, Any] = {}
    for p in params:
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (hints.get(p.name, Any), default)
    model = create_model(
        f"{getattr(fn, '__name__', 'tool')}_args",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return model, None


def function_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The JSON schema of `fn`'s arguments; ValueError if the hints cannot become one."""
    model, _ = _args_model(fn)
    try:
        schema = model.model_json_schema()
    except Exception as exc:  # pydantic's PydanticInvalidForJsonSchema and friends
        raise ValueError(f"the arguments of {fn!r} have no JSON schema: {exc}") from None
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


@dataclass(slots=True)
class Tool:
    """One declared tool: what the model is told and how a call is executed."""

    name: str
    description: str
    parameters: dict[str, Any]
    kind: str  # "function" | "webhook"
    invoke: Invoke
    behavior: str | None = None
    scheduling: str | None = None
    timeout_s: float | None = None
    validator: jsonschema.Draft202012Validator = field(init=False)

    def __post_init__(self) -> None:
        self.validator = jsonschema.Draft202012Validator(self.parameters)

    def declaration(self) -> types.FunctionDeclaration:
        return types.FunctionDeclaration(
            name=self.name,
            description=self.description,
            parameters_json_schema=self.parameters,
            behavior=types.Behavior(self.behavior) if self.behavior else None,
        )


def _function_invoke(fn: Callable[..., Any]) -> Invoke:
    """Arguments validated into the callable's types; sync callables run in a worker thread."""
    model, single = _args_model(fn)
    call = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__call__
    is_async = inspect.iscoroutinefunction(call)

    async def invoke(args: dict[str, Any], call_id: str = "") -> Any:
        import asyncio

        try:
            parsed = model.model_validate(args)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"]) or "arguments"
            raise InvalidArguments(f"invalid arguments: {where}: {err['msg']}") from None
        if single is not None:
            kwargs = {single: parsed}
        else:
            kwargs = {name: getattr(parsed, name) for name in type(parsed).model_fields}
        if is_async:
            return await fn(**kwargs)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(_sync_tool_threads(), functools.partial(fn, **kwargs))
        if inspect.isawaitable(result):
            result = await result
        return result

    return invoke


def build_tool(entry: ToolEntry, webhook_invoke: Callable[[WebhookEntry], Invoke]) -> Tool:
    """A runnable `Tool` from a checked settings entry."""
    if isinstance(entry, FunctionEntry):
        fn = entry.target
        doc = inspect.getdoc(fn) or ""
        return Tool(
            name=entry.tool_name,
            description=entry.description or doc or entry.tool_name,
            parameters=entry.parameters or function_schema(fn),
            kind="function",
            invoke=_function_invoke(fn),
            behavior=entry.behavior,
            scheduling=entry.scheduling,
            timeout_s=entry.timeout_s,
        )
    return Tool(
        name=entry.name,
        description=entry.description,
        parameters=entry.parameters,
        kind="webhook",
        invoke=webhook_invoke(entry),
        behavior=entry.behavior,
        scheduling=entry.scheduling,
        timeout_s=entry.timeout_s,
    )


def declarations(tools: Mapping[str, Tool]) -> list[types.Tool]:
    """The `tools` field of the setup: one `types.Tool` holding every declaration."""
    if not tools:
        return []
    return [types.Tool(function_declarations=[t.declaration() for t in tools.values()])]
