"""The carrier routes: each carrier's answer document and its media-stream WebSocket.

- Telnyx: `POST|GET /telnyx/texml` answers TeXML `<Connect><Stream bidirectionalMode="rtp">`
  (https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/stream);
  `/telnyx/stream` is the stream (telnyx_protocol.py).
- Plivo: `POST|GET /plivo/answer` answers `<Stream bidirectional="true" keepCallAlive="true">`
  (https://docs.plivo.com/docs/voice/xml/audiostream); `/plivo/stream` (plivo_protocol.py).
- Vonage: `GET|POST /vonage/answer` answers an NCCO `connect` to a `websocket` endpoint
  (https://developer.vonage.com/en/voice/voice-api/guides/websockets); `/vonage/stream`.
- Exotel: the Voicebot applet is configured with the stream URL itself (no answer document);
  `/exotel/stream?sample-rate=16000&key=value` (exotel_protocol.py).

Answer requests are signed by the carrier and checked when its secret is configured
(carrier_signatures.py); 403 otherwise. The query's `scenario` (emulator only) and the caller's
numbers travel to the stream as the carrier's custom parameters.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web
from pydantic import SecretStr

from liveguard.relay.context import RELAY_KEY, RelayContext
from liveguard.transports import carrier_signatures as sigs
from liveguard.transports.carrier_call import stream_handler
from liveguard.transports.exotel_protocol import ExotelAgentStream
from liveguard.transports.plivo_protocol import PlivoAudioStream
from liveguard.transports.telnyx_protocol import TelnyxMediaStream
from liveguard.transports.twiml import stream_url
from liveguard.transports.vonage_protocol import VonageWebSocket

log = logging.getLogger("liveguard.relay.carriers")

PATHS = {
    "telnyx": "/telnyx/stream",
    "plivo": "/plivo/stream",
    "vonage": "/vonage/stream",
    "exotel": "/exotel/stream",
}
_PASSED = ("scenario",)  # answer-request query parameters handed on to the stream
_ALNUM = re.compile(r"[^A-Za-z0-9]")


def _url(request: web.Request, ctx: RelayContext, carrier: str) -> str:
    try:
        return stream_url(
            ctx.settings.public_url,
            request.host,
            request.scheme,
            request.headers.get("X-Forwarded-Proto"),
            PATHS[carrier],
        )
    except ValueError as exc:
        raise web.HTTPInternalServerError(text=f"{exc}\n") from None


def _signed_url(request: web.Request, ctx: RelayContext) -> str:
    """The https URL the carrier requested (the configured public origin when there is one)."""
    public = ctx.settings.public_url
    if public:
        parts = urlsplit(public.rstrip("/"))
        scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
        return urlunsplit((scheme, parts.netloc, parts.path + request.path, "", ""))
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    return f"{proto}://{request.host}{request.path}"


def _secret(value: SecretStr | None) -> str:
    """A configured secret's value; "" when none is set (the requests are then not checked)."""
    return value.get_secret_value() if value is not None else ""


def _kept(params: dict[str, str], *names: str) -> dict[str, str]:
    """The answer request's parameters that travel on to the stream: `names` and `_PASSED`."""
    return {k: params[k] for k in (*names, *_PASSED) if k in params}


def _forbid(carrier: str, what: str) -> web.HTTPForbidden:
    log.warning("%s answer webhook: %s signature", carrier, what)
    return web.HTTPForbidden(text=f"invalid {carrier} signature\n")


async def _params(request: web.Request) -> tuple[dict[str, str], bytes]:
    body = await request.read() if request.method == "POST" else b""
    params = {k: v for k, v in request.query.items()}
    if body and request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    elif body and request.content_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            params.update({k: str(v) for k, v in data.items() if isinstance(v, str | int)})
    return params, body


# --------------------------------------------------------------------------- answer documents


def texml_stream(url: str, parameters: dict[str, str]) -> str:
    """TeXML connecting the call to a bidirectional RTP stream in PCMU (Telnyx's default)."""
    params = "".join(
        f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in parameters.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        f'<Stream url={quoteattr(url)} bidirectionalMode="rtp" bidirectionalCodec="PCMU">'
        f"{params}</Stream></Connect></Response>"
    )


def plivo_stream_xml(url: str, parameters: dict[str, str], content_type: str) -> str:
    """Plivo XML starting a bidirectional stream; extraHeaders keep only [A-Za-z0-9]."""
    extra = ",".join(f"{_ALNUM.sub('', k)}={_ALNUM.sub('', v)}" for k, v in parameters.items())
    attrs = (
        f'bidirectional="true" keepCallAlive="true" audioTrack="inbound" '
        f"contentType={quoteattr(content_type)}"
    )
    if extra:
        attrs += f" extraHeaders={quoteattr(extra[:512])}"
    stream = f"<Stream {attrs}>{escape(url)}</Stream>"
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{stream}</Response>'


def vonage_ncco(url: str, parameters: dict[str, str], rate: int = 16000) -> list[dict]:
    """An NCCO connecting the call to our WebSocket at `rate` with `parameters` as headers."""
    endpoint = {
        "type": "websocket",
        "uri": url,
        "content-type": f"audio/l16;rate={rate}",
        "headers": parameters,
    }
    return [{"action": "connect", "endpoint": [endpoint]}]


async def telnyx_texml(request: web.Request) -> web.Response:
    ctx = request.app[RELAY_KEY]
    params, body = await _params(request)
    key = ctx.settings.telnyx_public_key
    if key:
        sig = request.headers.get("telnyx-signature-ed25519")
        if not sigs.telnyx_valid(key, body, sig, request.headers.get("telnyx-timestamp")):
            raise _forbid("telnyx", "bad" if sig else "missing")
    if ctx.refusal() is not None:
        return web.Response(text="<Response><Reject/></Response>", content_type="text/xml")
    keep = _kept(params, "CallSid", "From", "To")
    return web.Response(
        text=texml_stream(_url(request, ctx, "telnyx"), keep), content_type="text/xml"
    )


async def plivo_answer(request: web.Request) -> web.Response:
    ctx = request.app[RELAY_KEY]
    params, _ = await _params(request)
    token = _secret(ctx.settings.plivo_auth_token)
    if token:
        sig = request.headers.get("X-Plivo-Signature-V2")
        nonce = request.headers.get("X-Plivo-Signature-V2-Nonce")
        if not sigs.plivo_valid(token, _signed_url(request, ctx), nonce, sig):
            raise _forbid("plivo", "bad" if sig else "missing")
    if ctx.refusal() is not None:
        return web.Response(
            text='<Response><Hangup reason="busy"/></Response>', content_type="text/xml"
        )
    keep = _kept(params, "From", "To")
    content_type = params.get("contentType", "audio/x-mulaw;rate=8000")
    if content_type not in (
        "audio/x-mulaw;rate=8000",
        "audio/x-l16;rate=8000",
        "audio/x-l16;rate=16000",
    ):
        content_type = "audio/x-mulaw;rate=8000"
    body = plivo_stream_xml(_url(request, ctx, "plivo"), keep, content_type)
    return web.Response(text=body, content_type="text/xml")


async def vonage_answer(request: web.Request) -> web.Response:
    ctx = request.app[RELAY_KEY]
    params, body = await _params(request)
    secret = _secret(ctx.settings.vonage_signature_secret)
    if secret:
        auth = request.headers.get("Authorization")
        if not sigs.vonage_valid(secret, auth, body):
            raise _forbid("vonage", "bad" if auth else "missing")
    if ctx.refusal() is not None:
        return web.json_response([{"action": "talk", "text": "Please call again later."}])
    keep = _kept(params, "uuid", "from", "to")
    rate = 8000 if params.get("rate") == "8000" else 16000
    return web.json_response(vonage_ncco(_url(request, ctx, "vonage"), keep, rate))


# --------------------------------------------------------------------------- streams


def _limits(ctx: RelayContext) -> dict[str, int]:
    s = ctx.settings
    return {"max_message_bytes": s.max_message_bytes, "max_errors": s.max_caller_errors}


def _exotel(ctx: RelayContext, request: web.Request) -> ExotelAgentStream:
    query = dict(request.query)
    rate = query.pop("sample-rate", "8000")
    params = {k[:100]: v[:500] for k, v in list(query.items())[:10]}
    return ExotelAgentStream(
        sample_rate=int(rate) if rate.isdigit() and len(rate) < 7 else 8000,
        parameters=params,
        **_limits(ctx),
    )


def add_routes(app: web.Application) -> None:
    for method in ("GET", "POST"):
        app.router.add_route(method, "/telnyx/texml", telnyx_texml)
        app.router.add_route(method, "/plivo/answer", plivo_answer)
        app.router.add_route(method, "/vonage/answer", vonage_answer)
    app.router.add_get(
        PATHS["telnyx"],
        stream_handler("telnyx", lambda ctx, r: TelnyxMediaStream(**_limits(ctx))),
    )
    app.router.add_get(
        PATHS["plivo"], stream_handler("plivo", lambda ctx, r: PlivoAudioStream(**_limits(ctx)))
    )
    app.router.add_get(
        PATHS["vonage"], stream_handler("vonage", lambda ctx, r: VonageWebSocket(**_limits(ctx)))
    )
    app.router.add_get(PATHS["exotel"], stream_handler("exotel", _exotel))
