"""Framework layer: signed values for cookies (HMAC-SHA256, timestamped, key rotation).

A signed value reads ``1|<timestamp>|<base64url payload>|<hex HMAC>``. The HMAC covers
the cookie *name* as well, so a value signed for one cookie is refused for another.
Secrets rotate: the first secret signs, any of them verifies, and the comparison is
constant-time (:func:`hmac.compare_digest`). Every character is a cookie-octet, so
the result can go straight into ``Set-Cookie``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence

from micro.errors import ConfigError

__all__ = ["create_signed_value", "decode_signed_value", "normalize_secrets"]

_VERSION = "1"
# A signature from the future means a forged timestamp or a clock jump; allow a
# little skew between the processes of a cluster.
_FUTURE_SKEW = 300.0


def normalize_secrets(secret: str | bytes | Sequence[str | bytes] | None) -> list[bytes]:
    """The ``cookie_secret`` setting as a non-empty list of keys, or a ConfigError."""
    if secret is None or secret == "" or secret == b"":
        raise ConfigError(
            "cannot sign or verify cookies: set the 'cookie_secret' setting "
            "(a long random string, or a list of them to rotate keys)"
        )
    items = [secret] if isinstance(secret, str | bytes) else list(secret)
    keys = [s.encode("utf-8") if isinstance(s, str) else bytes(s) for s in items]
    if not keys or any(not k for k in keys):
        raise ConfigError("'cookie_secret' must be a non-empty string or list of them")
    return keys


def _mac(key: bytes, name: str, ts: str, payload: str) -> str:
    message = f"{_VERSION}|{name}|{ts}|{payload}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def create_signed_value(
    secret: str | bytes | Sequence[str | bytes] | None,
    name: str,
    value: str | bytes,
    *,
    clock: Callable[[], float] = time.time,
) -> str:
    """Sign ``value`` for the cookie ``name`` with the first secret."""
    key = normalize_secrets(secret)[0]
    raw = value.encode("utf-8") if isinstance(value, str) else value
    payload = base64.urlsafe_b64encode(raw).decode("ascii")
    ts = str(int(clock()))
    return f"{_VERSION}|{ts}|{payload}|{_mac(key, name, ts, payload)}"


def decode_signed_value(
    secret: str | bytes | Sequence[str | bytes] | None,
    name: str,
    signed: str | None,
    *,
    max_age_days: float = 31,
    clock: Callable[[], float] = time.time,
) -> bytes | None:
    """The payload of a valid, unexpired signed value, else ``None`` (never raises on input)."""
    keys = normalize_secrets(secret)
    if not signed:
        return None
    parts = signed.split("|")
    if len(parts) != 4 or parts[0] != _VERSION or not parts[1].isdigit():
        return None
    _, ts, payload, mac = parts
    if not any(hmac.compare_digest(_mac(k, name, ts, payload), mac) for k in keys):
        return None
    now = clock()
    age = now - int(ts)
    if age > max_age_days * 86400 or age < -_FUTURE_SKEW:
        return None
    try:
        return base64.urlsafe_b64decode(payload.encode("ascii"))
    except (binascii.Error, ValueError):
        return None
