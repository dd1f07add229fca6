"""The Twilio routes: `POST /twilio/voice` (TwiML) and the `/twilio/stream` Media Stream WebSocket.

The handler is a thin shell: `TwilioMediaStream` (twilio_protocol.py) decides everything about
the wire, `GuardedSession` everything about the model, `CarrierCall` (carrier_call.py, shared with
the other carriers) over `CallBridge` (call.py) the call's lifecycle. Per call two loops run:

- caller → model: text frame → protocol → μ-law decode → `session.send_audio(pcm, 8000)`;
  DTMF → `session.send_text`; marks → playout accounting; bad input → a logged `CallerError`
  (the message is dropped, or the call ends for fatal errors). Other calls never notice.
- model → caller: `AudioOut` 24 kHz → stateful resample to 8 kHz → μ-law → 20 ms `media` frames
  and a `mark` per chunk; `FlushPlayback` (a real barge-in, as the guard decided) → `clear`;
  `TurnComplete` → the tail frame and a turn-end mark. Phantom interrupts produce no
  FlushPlayback, so nothing is cleared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from liveguard.audio import mulaw
from liveguard.relay.context import RELAY_KEY, RelayContext
from liveguard.session.guarded import GuardedSession
from liveguard.transports.carrier_call import CarrierCall
from liveguard.transports.signature import validate_signature
from liveguard.transports.twilio_protocol import SAMPLE_RATE, MediaIn, TwilioMediaStream
from liveguard.transports.twiml import connect_stream, stream_url

log = logging.getLogger("liveguard.relay.twilio")

_VOICE_PARAMS = ("CallSid", "From", "To", "AccountSid", "Direction")


# --------------------------------------------------------------------------- POST /twilio/voice


def _request_url(request: web.Request, public_url: str | None) -> str:
    """The URL Twilio signed: the configured public URL's origin, or what the request says."""
    if public_url:
        base = public_url.rstrip("/")
        for prefix in ("wss://", "ws://"):
            if base.startswith(prefix):
                base = ("https://" if prefix == "wss://" else "http://") + base[len(prefix) :]
        return base + request.rel_url.path_qs
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    return f"{proto}://{request.host}{request.rel_url.path_qs}"


def _require_signature(
    request: web.Request,
    ctx: RelayContext,
    signed_url: Callable[[web.Request, str | None], str],
    params: list[tuple[str, str]],
    what: str,
) -> None:
    """403 unless the request carries a valid X-Twilio-Signature (when a token is configured)."""
    token = ctx.settings.twilio_auth_token
    if token is None or not token.get_secret_value():
        return
    url = signed_url(request, ctx.settings.public_url)
    sig = request.headers.get("X-Twilio-Signature")
    if not validate_signature(token.get_secret_value(), url, params, sig):
        log.warning("twilio %s: %s X-Twilio-Signature", what, "bad" if sig else "missing")
        raise web.HTTPForbidden(text="invalid X-Twilio-Signature\n")


async def twilio_voice(request: web.Request) -> web.Response:
    """TwiML connecting the call to our Media Stream; 403 on a bad X-Twilio-Signature."""
    ctx = request.app[RELAY_KEY]
    form = await request.post() if request.method == "POST" else {}
    items = [(k, v) for k, v in form.items() if isinstance(v, str)]
    _require_signature(request, ctx, _request_url, items, "voice webhook")
    if ctx.refusal() is not None:
        body = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy"/></Response>'
        return web.Response(text=body, content_type="text/xml")
    try:
        url = stream_url(
            ctx.settings.public_url,
            request.host,
            request.scheme,
            request.headers.get("X-Forwarded-Proto"),
        )
    except ValueError as exc:
        raise web.HTTPInternalServerError(text=f"{exc}\n") from None
    params = {k: str(form[k]) for k in _VOICE_PARAMS if k in form}
    return web.Response(text=connect_stream(url, params), content_type="text/xml")


# --------------------------------------------------------------------------- /twilio/stream


class TwilioCall(CarrierCall):
    """One phone call: Twilio's protocol object in the carrier call handler (carrier_call.py).

    What differs from the other carriers is only that Twilio's protocol object speaks μ-law: caller
    `media` arrives as μ-law bytes (`MediaIn`), model audio is encoded before it is framed, and
    `clear()` returns one message.
    """

    transport = "twilio"

    def _make_proto(self) -> Any:
        s = self.ctx.settings
        return TwilioMediaStream(
            max_message_bytes=s.max_message_bytes, max_errors=s.max_caller_errors
        )

    async def _from_caller(self, session: GuardedSession, item: Any, received_at: float) -> bool:
        if isinstance(item, MediaIn):  # the hot path first
            # forwarding time is reported by the session through `on_forwarded`
            pcm = mulaw.decode(item.payload)
            await session.send_audio(pcm, SAMPLE_RATE, received_at=received_at)
            return False
        return await super()._from_caller(session, item, received_at)

    def _encode(self, pcm: bytes) -> list[Any]:
        return self.proto.send_audio(mulaw.encode(pcm))

    def _clear(self) -> tuple[list[Any], float]:
        msg, unplayed = self.proto.clear()
        return [msg], unplayed


def _stream_request_url(request: web.Request, public_url: str | None) -> str:
    """The wss:// URL Twilio signed when it opened the stream."""
    https = _request_url(request, public_url)
    return ("wss://" + https[8:]) if https.startswith("https://") else ("ws://" + https[7:])


async def twilio_stream(request: web.Request) -> web.StreamResponse:
    """The Media Stream WebSocket: one `TwilioCall` per connection.

    With a Twilio auth token configured the upgrade request must carry a valid
    X-Twilio-Signature (Twilio signs the stream URL, with no parameters); else 403.
    """
    ctx = request.app[RELAY_KEY]
    _require_signature(request, ctx, _stream_request_url, [], "stream")
    ws = web.WebSocketResponse(
        max_msg_size=ctx.settings.max_message_bytes * 4,  # beyond the protocol's own limit
        compress=False,
        heartbeat=None,
    )
    await ws.prepare(request)
    await TwilioCall.serve(ctx, ws, request.transport)
    return ws


def add_routes(app: web.Application) -> None:
    app.router.add_post("/twilio/voice", twilio_voice)
    app.router.add_get("/twilio/stream", twilio_stream)
