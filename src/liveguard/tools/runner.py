"""Run the model's function calls: concurrently within a bound, and always with an answer.

Why "always": a `toolCall` left without a `toolResponse` is one of today's silent calls (the model
waits, the caller hears nothing). So every call ends in a `FunctionResponse`: the result, or an
`{"error": ...}` the model can speak about (the tool raised, timed out, the webhook failed, the
name was not declared, the arguments did not match the declaration, the result was too large, too
many calls at once). The one exception is a call the server cancelled (`toolCallCancellation`):
it is stopped and `run` returns None, so its result is never sent.

The runner is a plain object the session calls: `await runner.run(call)` per call (concurrently,
e.g. one task each), `runner.cancel(ids)` on a cancellation, `await runner.aclose()` at the end.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from google.genai import types
from pydantic_core import to_jsonable_python

from liveguard import events as ev
from liveguard.tools.declarations import InvalidArguments, Tool, build_tool, declarations
from liveguard.tools.spec import ToolEntry, ToolLimits
from liveguard.tools.webhook import ResultTooLarge, WebhookClient, WebhookError

log = logging.getLogger("liveguard.tools")

REDACTED = "[redacted]"
MAX_ERROR_CHARS = 300
MAX_NAME_CHARS = 64


#: An application's own tool code: gets every call the model makes, returns its result (any
#: JSON-able value, or a whole `FunctionResponse`); raising is an error response like a tool's.
ToolHandler = Callable[[types.FunctionCall], Awaitable[Any]]


class _Failure(Exception):
    """A call that ends with an error response (`outcome` names why)."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


class ToolRunner:
    """Executes calls to the declared tools; see the module docstring for the contract."""

    def __init__(
        self,
        tools: Mapping[str, Tool],
        *,
        limits: ToolLimits | None = None,
        redact: bool = False,
        emit: Callable[[ev.Event], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        webhooks: WebhookClient | None = None,
        handler: ToolHandler | None = None,
    ) -> None:
        self.tools = dict(tools)
        #: runs every call whose name is not among `tools` (then no name is "undeclared")
        self.handler = handler
        self.limits = limits or ToolLimits()
        self.redact = redact
        self._emit = emit
        self._clock = clock
        self._webhooks = webhooks
        self._slots = asyncio.Semaphore(self.limits.max_concurrent)
        self._running: dict[str, asyncio.Task[types.FunctionResponse]] = {}
        self._cancelled: set[str] = set()
        self._started: set[str] = set()
        self._anon = itertools.count(1)

    @classmethod
    def from_entries(
        cls, entries: Iterable[ToolEntry], *, limits: ToolLimits | None = None, **kwargs: Any
    ) -> ToolRunner:
        """A runner for checked settings entries (`Settings.tools`), with its webhook client."""
        limits = limits or ToolLimits()
        webhooks = WebhookClient(limits.max_result_bytes)
        tools = {e.tool_name: build_tool(e, webhooks.invoker) for e in entries}
        return cls(tools, limits=limits, webhooks=webhooks, **kwargs)

    def declarations(self) -> list[types.Tool]:
        """The setup's `tools` field for these tools."""
        return declarations(self.tools)

    @property
    def running(self) -> int:
        return len(self._running)

    async def run(self, call: types.FunctionCall) -> types.FunctionResponse | None:
        """The response to one call; None only when `cancel` stopped it (send nothing then)."""
        key = call.id or f"noid-{next(self._anon)}"
        if key in self._running:
            return self._error(call, key, "", "busy", f"call {key} is already running", None)
        if len(self._running) >= self.limits.max_pending:
            return self._error(
                call, key, "", "busy", "too many tool calls at once; try again shortly", None
            )
        task = asyncio.ensure_future(self._execute(call, key))
        self._running[key] = task
        try:
            return await task
        except asyncio.CancelledError:
            if key not in self._started:  # cancelled before it ran: still one complete span
                self._event(ev.ToolCallStarted(t=self._clock(), call_id=key, tool=call.name or ""))
                self._finished(key, call.name or "", "cancelled", time.perf_counter(), 0, "")
            current = asyncio.current_task()
            if key in self._cancelled and not (current and current.cancelling()):
                return None
            raise
        finally:
            self._running.pop(key, None)
            self._cancelled.discard(key)
            self._started.discard(key)

    def cancel(self, ids: Iterable[str]) -> list[str]:
        """Stop the running calls with these ids (their results are never sent); the ids hit."""
        hit = []
        for call_id in ids:
            task = self._running.get(call_id)
            if task is not None and not task.done():
                self._cancelled.add(call_id)
                task.cancel()
                hit.append(call_id)
        return hit

    async def aclose(self) -> None:
        """Cancel what still runs and close the webhook client."""
        self.cancel(list(self._running))
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
        if self._webhooks is not None:
            await self._webhooks.aclose()

    # ------------------------------------------------------------------ one call

    async def _execute(self, call: types.FunctionCall, key: str) -> types.FunctionResponse:
        self._started.add(key)
        start = time.perf_counter()
        name = (call.name or "")[:MAX_NAME_CHARS]  # a made-up name can be anything
        args = dict(call.args or {})
        tool = self.tools.get(name)
        self._event(
            ev.ToolCallStarted(
                t=self._clock(),
                call_id=key,
                tool=name,
                kind=tool.kind if tool else ("handler" if self.handler else ""),
                args=self._redacted(args),
            )
        )
        try:
            if tool is None and self.handler is None:
                raise _Failure("undeclared", f"there is no tool named {name!r}")
            if tool is not None:
                self._validate(tool, args)
            async with self._slots:
                timeout = (tool.timeout_s if tool else None) or self.limits.timeout_s
                try:
                    async with asyncio.timeout(timeout):
                        if tool is not None:
                            result = await tool.invoke(args, key)
                        else:
                            assert self.handler is not None
                            result = await self.handler(call)
                except TimeoutError:
                    raise _Failure(
                        "timeout", f"{name} did not finish within {timeout:g} s"
                    ) from None
            if isinstance(result, types.FunctionResponse):  # the handler's own response
                payload = dict(result.response or {})
            else:
                payload = {"output": to_jsonable_python(result, fallback=str)}
            size = len(json.dumps(payload, separators=(",", ":")))
            if size > self.limits.max_result_bytes:
                raise ResultTooLarge(size, self.limits.max_result_bytes)
        except asyncio.CancelledError:
            self._finished(key, name, "cancelled", start, 0, "")
            raise
        except _Failure as exc:
            return self._error(call, key, name, exc.outcome, str(exc), start)
        except ResultTooLarge as exc:
            msg = f"the result of {name} was too large ({exc.size} bytes, limit {exc.limit})"
            return self._error(call, key, name, "too_large", msg, start)
        except WebhookError as exc:
            return self._error(call, key, name, "webhook_error", str(exc), start)
        except InvalidArguments as exc:
            return self._error(call, key, name, "invalid_args", str(exc), start)
        except Exception as exc:
            return self._error(call, key, name, "error", _exc_message(name, exc), start)
        self._finished(key, name, "ok", start, size, "")
        return self._response(call, tool, payload)

    def _validate(self, tool: Tool, args: dict[str, Any]) -> None:
        """Arguments against the declaration, before anything runs."""
        errors = sorted(tool.validator.iter_errors(args), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            where = ".".join(str(p) for p in first.path) or "arguments"
            raise _Failure(
                "invalid_args", f"invalid arguments for {tool.name}: {where}: {first.message}"
            )

    def _response(
        self, call: types.FunctionCall, tool: Tool | None, payload: dict[str, Any]
    ) -> types.FunctionResponse:
        scheduling = None
        if tool is not None and tool.scheduling and tool.behavior != "BLOCKING":
            scheduling = types.FunctionResponseScheduling(tool.scheduling)
        return types.FunctionResponse(
            id=call.id, name=call.name, response=payload, scheduling=scheduling
        )

    def _error(
        self,
        call: types.FunctionCall,
        key: str,
        name: str,
        outcome: str,
        message: str,
        start: float | None,
    ) -> types.FunctionResponse:
        """An `{"error": ...}` response, logged; `start` None = refused before it started."""
        message = message[:MAX_ERROR_CHARS]
        if start is None:  # log the start too, so every call is a complete span in the log
            start = time.perf_counter()
            self._event(
                ev.ToolCallStarted(t=self._clock(), call_id=key, tool=call.name or "", args={})
            )
        self._finished(
            key, call.name or name, outcome, start, 0, outcome if self.redact else message
        )
        return self._response(call, self.tools.get(call.name or ""), {"error": message})

    def _finished(
        self, key: str, name: str, outcome: str, start: float, size: int, error: str
    ) -> None:
        ms = (time.perf_counter() - start) * 1000
        log.info("tool %s (call %s): %s in %.1f ms", name, key[:40], outcome, ms)
        self._event(
            ev.ToolCallFinished(
                t=self._clock(),
                call_id=key,
                tool=name,
                outcome=outcome,
                duration_ms=round((time.perf_counter() - start) * 1000, 3),
                result_bytes=size,
                error=error,
            )
        )

    def _redacted(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.redact:
            return to_jsonable_python(args, fallback=str)
        return {str(k): REDACTED for k in args}

    def _event(self, event: ev.Event) -> None:
        if self._emit is not None:
            self._emit(event)


def _exc_message(name: str, exc: Exception) -> str:
    text = str(exc).strip()
    return f"{name} failed: {type(exc).__name__}" + (f": {text}" if text else "")
