"""TwiML for `POST /twilio/voice`: connect the call to a bidirectional Media Stream.

Why: Twilio only opens `/twilio/stream` if the webhook answers with `<Connect><Stream>`; the
`<Parameter>`s come back to us in the stream's `start.customParameters`, which is how the call's
context (caller number, call sid) reaches the WebSocket handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import quoteattr

STREAM_PATH = "/twilio/stream"


def stream_url(
    public_url: str | None,
    host: str,
    scheme: str,
    forwarded_proto: str | None,
    path: str = STREAM_PATH,
) -> str:
    """The wss:// (or ws://) URL the carrier should open at `path` (Twilio's by default), from a
    configured public URL or the request.

    A configured `public_url` (http(s):// or ws(s)://, with or without a path prefix) wins;
    otherwise the request's Host and X-Forwarded-Proto (a TLS-terminating proxy) decide.
    """
    if public_url:
        parts = urlsplit(public_url)
        ws_scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}.get(parts.scheme)
        if ws_scheme is None or not parts.netloc:
            raise ValueError(
                f"public_url must be an http(s):// or ws(s):// URL, got {public_url!r}"
            )
        full = parts.path.rstrip("/") + path
        return urlunsplit((ws_scheme, parts.netloc, full, "", ""))
    proto = (forwarded_proto or scheme or "http").split(",")[0].strip().lower()
    ws_scheme = "wss" if proto in ("https", "wss") else "ws"
    return f"{ws_scheme}://{host}{path}"


def connect_stream(url: str, parameters: Mapping[str, str] | None = None) -> str:
    """`<Response><Connect><Stream url=...>` with one `<Parameter>` per item (XML-escaped)."""
    params = "".join(
        f"<Parameter name={quoteattr(str(k))} value={quoteattr(str(v))}/>"
        for k, v in (parameters or {}).items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Connect><Stream url={quoteattr(url)}>{params}</Stream></Connect></Response>"
    )
