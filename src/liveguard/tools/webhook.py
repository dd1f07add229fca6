"""Webhook tools over aiohttp: POST the arguments as JSON, signed, and read a bounded JSON answer.

Why these rules: the URL comes only from the settings (the model chooses a tool, never a
destination), redirects are not followed (a redirect could lead elsewhere), the answer is read at
most `max_result_bytes` + 1 bytes (a runaway endpoint cannot fill memory), and every failure is a
`WebhookError` whose message the model can speak about without leaking headers or secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import aiohttp

from liveguard.tools.declarations import Invoke
from liveguard.tools.spec import WebhookEntry

SIGNATURE_HEADER = "X-Liveguard-Signature"
CALL_ID_HEADER = "X-Liveguard-Tool-Call-Id"


class WebhookError(Exception):
    """A webhook call that did not produce a JSON answer; the message is safe to show the model."""


class ResultTooLarge(Exception):
    """A result over the size bound (`size` is at least the bound + 1)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the result is larger than {limit} bytes")
        self.size, self.limit = size, limit


def sign(secret: str | bytes, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the exact body."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """For a receiver: does `header` sign `body` with `secret` (constant-time compare)?"""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


class WebhookClient:
    """One aiohttp session for a runner's webhook tools (created on first use)."""

    def __init__(self, max_result_bytes: int) -> None:
        self.max_result_bytes = max_result_bytes
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)
            )
        return self._session

    def invoker(self, entry: WebhookEntry) -> Invoke:
        async def invoke(args: dict[str, Any], call_id: str = "") -> Any:
            return await self.post(entry, args, call_id)

        return invoke

    async def post(self, entry: WebhookEntry, args: dict[str, Any], call_id: str = "") -> Any:
        """POST `args`; the endpoint's JSON answer, or WebhookError / ResultTooLarge."""
        body = json.dumps(args, separators=(",", ":"), sort_keys=True).encode()
        headers = {k: v.get_secret_value() for k, v in entry.headers.items()}
        headers["Content-Type"] = "application/json"
        if call_id:
            headers[CALL_ID_HEADER] = call_id
        if entry.secret is not None:
            headers[SIGNATURE_HEADER] = sign(entry.secret.get_secret_value(), body)
        limit = self.max_result_bytes
        try:
            async with self._client().post(
                entry.webhook, data=body, headers=headers, allow_redirects=False
            ) as resp:
                raw = await resp.content.read(limit + 1)
                if resp.status < 200 or resp.status >= 300:
                    raise WebhookError(f"the {entry.name} service answered HTTP {resp.status}")
        except aiohttp.ClientError as exc:
            raise WebhookError(
                f"the {entry.name} service could not be reached ({type(exc).__name__})"
            ) from None
        if len(raw) > limit:
            raise ResultTooLarge(len(raw), limit)
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise WebhookError(f"the {entry.name} service did not answer with JSON") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
