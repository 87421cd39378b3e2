"""micro-xsrf, pure helpers: the secret token, its masked form, and how they compare.

The secret is 32 random bytes kept in a signed, timestamped cookie (signed with
micro's own :mod:`micro.signing`, so ``cookie_secret`` rotation works here too).
What pages carry is never the secret itself but ``mask || (secret XOR mask)``
with a fresh random mask per response, base64url-encoded: the bytes differ on
every response, so a compression side channel (BREACH) cannot recover the
secret from a compressed page. Checking unmasks and compares in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets

__all__ = ["TOKEN_BYTES", "mask", "matches", "new_secret", "unmask"]

TOKEN_BYTES = 32


def new_secret() -> bytes:
    return secrets.token_bytes(TOKEN_BYTES)


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def mask(secret: bytes) -> str:
    """A freshly masked, URL- and HTML-safe form of ``secret``."""
    pad = secrets.token_bytes(len(secret))
    return base64.urlsafe_b64encode(pad + _xor(secret, pad)).decode("ascii").rstrip("=")


def unmask(token: str) -> bytes | None:
    """The secret inside a masked token, or None when the token is malformed."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    if len(raw) != 2 * TOKEN_BYTES:
        return None
    return _xor(raw[TOKEN_BYTES:], raw[:TOKEN_BYTES])


def matches(submitted: str, secret: bytes, cookie_value: str) -> bool:
    """Whether ``submitted`` proves knowledge of ``secret``, in constant time.

    Accepted: a masked token (what ``xsrf_token`` and ``xsrf_form_html`` give),
    or the cookie's own value, which JavaScript may read and echo in a header
    (a cross-site page can do neither: it cannot read our cookie).
    """
    candidate = unmask(submitted)
    masked_ok = hmac.compare_digest(candidate or b"\0" * TOKEN_BYTES, secret)
    echo_ok = hmac.compare_digest(submitted.encode("utf-8"), cookie_value.encode("utf-8"))
    return (candidate is not None and masked_ok) or echo_ok
