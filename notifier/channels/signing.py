"""Standard Webhooks signatures (standardwebhooks.com): what a receiver checks to know a webhook
came from us, unchanged.

The signed content is ``<webhook-id>.<webhook-timestamp>.<body>`` (the raw body bytes); the
signature is ``v1,`` and the base64 of its HMAC-SHA256, keyed with the base64-decoded part of
the user's secret after ``whsec_``. The tests check it with the ``standardwebhooks`` package, an
independent implementation of the spec."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from shared.webhook_secret import SECRET_PREFIX, new_secret

__all__ = ["new_secret", "sign"]


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value for one delivery. Raises ValueError for a
    secret that is not ``whsec_`` + base64."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error as exc:
        raise ValueError(f"a webhook secret is whsec_ and base64: {exc}") from None
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
