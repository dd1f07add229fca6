"""Tools the relay runs for the model: settings entries, declarations, the runner, webhooks.

`ToolRunner.from_entries(settings.tools, limits=settings.tool_limits)` gives the object a session
calls (`await run(call)`, `cancel(ids)`); `ToolDispatcher` feeds it a session's items and sends the
responses. docs/tools.md explains the settings and the contract.
"""

from liveguard.tools.declarations import Tool, build_tool, declarations, function_schema
from liveguard.tools.dispatch import ToolDispatcher
from liveguard.tools.runner import ToolHandler, ToolRunner
from liveguard.tools.spec import FunctionEntry, ToolLimits, WebhookEntry, check_tool_entries
from liveguard.tools.webhook import SIGNATURE_HEADER, sign, verify

__all__ = [
    "SIGNATURE_HEADER",
    "FunctionEntry",
    "Tool",
    "ToolDispatcher",
    "ToolHandler",
    "ToolLimits",
    "ToolRunner",
    "WebhookEntry",
    "build_tool",
    "check_tool_entries",
    "declarations",
    "function_schema",
    "sign",
    "verify",
]
