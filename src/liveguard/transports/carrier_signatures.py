"""Webhook signatures of the carriers' answer requests, checked when a secret is configured.

Why: the answer webhooks are public; without a check anyone could make the relay hand out stream
URLs and open model sessions. Each algorithm is the carrier's documented one:

- Telnyx: Ed25519 over `"{telnyx-timestamp}|{raw body}"`, base64 in `telnyx-signature-ed25519`,
  checked with the account's public key; timestamps older than 5 minutes are refused
  (https://developers.telnyx.com/api-reference/callbacks/texml-stream, "Standard Webhooks").
- Plivo (V2): base64 HMAC-SHA256 with the auth token over the base URI followed by the
  `X-Plivo-Signature-V2-Nonce` header (https://docs.plivo.com/docs/verify/concepts/signature-validation).
- Vonage: the `Authorization: Bearer` JWT of a signed webhook, HS256 with the signature secret; a
  request body must match the token's `payload_hash` (SHA-256 hex)
  (https://developer.vonage.com/en/voice/voice-api/webhook-reference, "Signed Webhooks").

All comparisons are constant-time; nothing here logs a secret or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

TELNYX_TOLERANCE_S = 300.0
VONAGE_MAX_AGE_S = 300.0


def telnyx_valid(
    public_key_b64: str,
    body: bytes,
    signature_b64: str | None,
    timestamp: str | None,
    *,
    now: float | None = None,
) -> bool:
    """True when `signature_b64` is the Ed25519 signature of `timestamp|body` by the key."""
    if not signature_b64 or not timestamp or not timestamp.strip().isdigit():
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TELNYX_TOLERANCE_S:
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        key.verify(base64.b64decode(signature_b64), timestamp.strip().encode() + b"|" + body)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def plivo_signature(auth_token: str, base_uri: str, nonce: str) -> str:
    """The X-Plivo-Signature-V2 Plivo would send for `base_uri` and `nonce`."""
    digest = hmac.new(auth_token.encode(), (base_uri + nonce).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def plivo_valid(auth_token: str, base_uri: str, nonce: str | None, signature: str | None) -> bool:
    if not nonce or not signature:
        return False
    expected = plivo_signature(auth_token, base_uri, nonce).encode()
    return hmac.compare_digest(expected, signature.strip().encode())


def _b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def vonage_jwt(secret: str, claims: dict[str, object]) -> str:
    """An HS256 JWT as Vonage signs webhooks (for the simulated carrier and tests)."""

    def enc(obj: dict[str, object]) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = enc({"alg": "HS256", "typ": "JWT"}) + "." + enc(claims)
    sig = hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def vonage_valid(
    secret: str, authorization: str | None, body: bytes = b"", *, now: float | None = None
) -> bool:
    """True for a `Bearer` HS256 JWT signed with `secret`, recent, matching `body` if any."""
    if not authorization or not authorization.startswith("Bearer "):
        return False
    parts = authorization[7:].strip().split(".")
    if len(parts) != 3:
        return False
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        sig = _b64url(parts[2])
    except (ValueError, binascii.Error):
        return False
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        return False
    signed = (parts[0] + "." + parts[1]).encode()
    if not hmac.compare_digest(hmac.new(secret.encode(), signed, hashlib.sha256).digest(), sig):
        return False
    now = time.time() if now is None else now
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or abs(now - iat) > VONAGE_MAX_AGE_S:
        return False
    if body:
        digest = hashlib.sha256(body).hexdigest()
        return hmac.compare_digest(str(claims.get("payload_hash", "")), digest)
    return True
