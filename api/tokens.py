"""Access tokens (JWT, HS256, short-lived) and refresh tokens (opaque, stored hashed).

The two kinds cannot stand in for each other: an access token is a JWT with ``type: access``
checked on decode, a refresh token is 32 random bytes the database knows only by SHA-256.

An access token is checked on every authenticated request, and PyJWT's decode (base64 checks
character by character, two JSON documents, an HMAC) is the largest part of a create's own work
in a profile of one worker under ``benchmarks.api_load``. A token whose signature and claims
checked out is kept, with its user and expiry, in a bounded table: the same token again costs
one dictionary look-up and the expiry check, which is redone at every use. Only verified tokens
enter it, so a forged one is decoded (and refused) each time.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

import jwt

from shared.errors import Unauthorized

ALGORITHM = "HS256"
ACCESS_TYPE = "access"
# Verified tokens kept per process: about 3 MB at most; past it the oldest is dropped.
VERIFIED_KEPT = 10_000


class AccessTokens:
    """Issues and checks access tokens with one secret and lifetime."""

    def __init__(
        self,
        secret: str,
        *,
        ttl_seconds: int,
        kept: int = VERIFIED_KEPT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._ttl = ttl_seconds
        self._kept = kept
        self._clock = clock
        # token -> (user id, expiry in Unix seconds), oldest first
        self._verified: dict[str, tuple[int, float]] = {}

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    def issue(self, user_id: int) -> str:
        now = int(time.time())
        claims = {"sub": str(user_id), "type": ACCESS_TYPE, "iat": now, "exp": now + self._ttl}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def user_id(self, token: str) -> int:
        """The user the token was issued to; Unauthorized if it is forged, expired or not an
        access token. O(1) for a token verified before (its expiry checked again)."""
        known = self._verified.get(token)
        if known is not None:
            user_id, expires = known
            if self._clock() < expires:  # PyJWT's rule: expired from exp on
                return user_id
            del self._verified[token]
            raise Unauthorized("access token has expired: refresh it or log in again")
        return self._decode(token)

    def _decode(self, token: str) -> int:
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
        user_id = int(subject)
        if len(self._verified) >= self._kept:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (user_id, float(claims["exp"]))
        return user_id


def new_refresh_token() -> tuple[str, bytes]:
    """A fresh refresh token and the hash the database keeps of it."""
    token = secrets.token_urlsafe(32)
    return token, refresh_token_hash(token)


def refresh_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
