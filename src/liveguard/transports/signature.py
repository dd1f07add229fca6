"""X-Twilio-Signature: HMAC-SHA1 over the full webhook URL plus the sorted POST parameters.

Why: the voice webhook is public; without the check anyone could make the relay open model sessions
(and spend the API key). The algorithm is Twilio's documented one: take the full URL Twilio
requested, append each POST parameter's name and value sorted by name, HMAC-SHA1 with the account's
auth token, base64. Twilio's own libraries also accept the URL with the default port added or
removed, since proxies differ; so do we.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The base64 HMAC-SHA1 Twilio would send (pairs sorted by name then value, deduplicated)."""
    data = url + "".join(k + v for k, v in sorted(set(params)))
    digest = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_variants(url: str) -> list[str]:
    """The URL as given, plus with the scheme's default port added or removed."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url]
    if default is None or parts.hostname is None:
        return variants
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is None:
        netloc = f"{prefix}{host}:{default}"
    elif parts.port == default:
        netloc = f"{prefix}{host}"
    else:
        return variants
    variants.append(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))
    return variants


def validate_signature(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None
) -> bool:
    """True when `signature` matches (constant-time compare); False when missing or wrong."""
    if not signature:
        return False
    items = list(params)
    given = signature.strip().encode()
    ok = False
    for candidate in _url_variants(url):
        expected = compute_signature(auth_token, candidate, items).encode()
        ok |= hmac.compare_digest(expected, given)
    return ok
