"""Access tokens (JWT, HS256, short-lived) and refresh tokens (opaque, stored hashed).

The two kinds cannot stand in for each other: an access token is a JWT with ``type: access``
checked on decode, a refresh token is 32 random bytes the database knows only by SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import jwt

from shared.errors import Unauthorized

ALGORITHM = "HS256"
ACCESS_TYPE = "access"


class AccessTokens:
    """Issues and checks access tokens with one secret and lifetime."""

    def __init__(self, secret: str, *, ttl_seconds: int) -> None:
        self._secret = secret
        self._ttl = ttl_seconds

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    def issue(self, user_id: int) -> str:
        now = int(time.time())
        claims = {"sub": str(user_id), "type": ACCESS_TYPE, "iat": now, "exp": now + self._ttl}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def user_id(self, token: str) -> int:
        """The user the token was issued to; Unauthorized if it is forged, expired or not an
        access token."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub", "type"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("access token has expired: refresh it or log in again") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("access token is invalid") from None
        subject = claims["sub"]
        if claims["type"] != ACCESS_TYPE or not isinstance(subject, str) or not subject.isdigit():
            raise Unauthorized("access token is invalid")
        return int(subject)


def new_refresh_token() -> tuple[str, bytes]:
    """A fresh refresh token and the hash the database keeps of it."""
    token = secrets.token_urlsafe(32)
    return token, refresh_token_hash(token)


def refresh_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
