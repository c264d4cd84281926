"""A user's webhook signing secret, in the Standard Webhooks form: ``whsec_`` and the base64 of
32 random bytes. The API makes it (at signup, at a rotation); the notifier signs with it."""

from __future__ import annotations

import base64
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
