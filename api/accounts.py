"""Sign-up, login, refresh-token rotation and logout, with their SQL.

Refresh tokens form families: login starts one, each refresh consumes the presented token and
issues the next in the same family. A token presented twice means it leaked (or a client is
broken): the whole family is revoked, logging out whoever holds its newest token.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from api.passwords import Passwords
from api.throttle import Throttle
from api.tokens import AccessTokens, new_refresh_token, refresh_token_hash
from shared.errors import Conflict, Unauthorized, ValidationError
from shared.webhook_secret import new_secret

log = logging.getLogger(__name__)

# Names are unique without regard to case (the users_username_folded index of migration 0005).
INSERT_USER = """
INSERT INTO users (username, password_hash, webhook_secret) VALUES (%s, %s, %s)
ON CONFLICT ((lower(username))) DO NOTHING
RETURNING id
"""
# The account as GET /api/account/ shows it; a secret is made for an account from before
# secrets were (NULL), once.
SELECT_ACCOUNT = """
UPDATE users SET webhook_secret = coalesce(webhook_secret, %(secret)s)
WHERE id = %(id)s
RETURNING id, username, webhook_secret
"""
ROTATE_WEBHOOK_SECRET = """
UPDATE users SET webhook_secret = %(secret)s WHERE id = %(id)s
RETURNING id, username, webhook_secret
"""
SELECT_USER_FOR_LOGIN = "SELECT id, password_hash FROM users WHERE lower(username) = lower(%s)"
UPDATE_PASSWORD_HASH = "UPDATE users SET password_hash = %s WHERE id = %s"
INSERT_REFRESH = """
INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
VALUES (%s, %s, %s, now() + %s)
"""
# Single use: of two concurrent requests with one token, exactly one consumes it. The consumption
# and the next token of the family are one statement, so neither happens without the other.
ROTATE_REFRESH = """
WITH consumed AS (
    UPDATE refresh_tokens SET consumed_at = now()
    WHERE token_hash = %(old)s AND consumed_at IS NULL AND revoked_at IS NULL AND expires_at > now()
    RETURNING user_id, family_id
)
INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
SELECT user_id, family_id, %(new)s, now() + %(ttl)s FROM consumed
RETURNING user_id
"""
LOG_OUT_FAMILY = """
UPDATE refresh_tokens SET revoked_at = now()
WHERE revoked_at IS NULL AND family_id = (
    SELECT family_id FROM refresh_tokens
    WHERE token_hash = %s AND consumed_at IS NULL AND revoked_at IS NULL AND expires_at > now()
)
RETURNING id
"""
# A token already consumed, in a family still alive, is being reused: revoke the family.
REVOKE_REUSED_FAMILY = """
UPDATE refresh_tokens SET revoked_at = now()
WHERE revoked_at IS NULL AND family_id = (
    SELECT family_id FROM refresh_tokens
    WHERE token_hash = %s AND consumed_at IS NOT NULL AND revoked_at IS NULL
)
RETURNING family_id
"""

INVALID_CREDENTIALS = "invalid username or password"
INVALID_REFRESH = "refresh token is invalid, expired or revoked: log in again"


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    webhook_secret: str

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "username": self.username, "webhook_secret": self.webhook_secret}


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: str
    refresh: str


class Accounts:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        access_tokens: AccessTokens,
        *,
        passwords: Passwords,
        throttle: Throttle,
        refresh_ttl_seconds: int,
    ) -> None:
        self._pool = pool
        self._access = access_tokens
        self._passwords = passwords
        self._throttle = throttle
        self._refresh_ttl = timedelta(seconds=refresh_ttl_seconds)

    async def sign_up(self, username: str, password: str, *, address: str) -> int:
        """The new account's id; Throttled past the signups allowed from ``address``."""
        await self._throttle.take_signup(address)
        password_hash = await self._passwords.hash(password)
        async with self._pool.connection() as conn:
            cursor = await conn.execute(INSERT_USER, (username, password_hash, new_secret()))
            row = await cursor.fetchone()
        if row is None:
            raise Conflict(f"username {username!r} is already taken")
        return int(row[0])

    async def account(self, user_id: int, *, rotate: bool = False) -> Account:
        """The account with its webhook secret (a new one if ``rotate``)."""
        statement = ROTATE_WEBHOOK_SECRET if rotate else SELECT_ACCOUNT
        async with self._pool.connection() as conn:
            cursor = await conn.execute(statement, {"id": user_id, "secret": new_secret()})
            row = await cursor.fetchone()
        if row is None:
            raise Unauthorized("the account of this token no longer exists")
        return Account(id=row[0], username=row[1], webhook_secret=row[2])

    async def log_in(self, username: str, password: str, *, address: str) -> TokenPair:
        """Same answer, and about the same time, for an unknown user and a wrong password.
        Every attempt counts as a failure against ``address`` and the account at ``address``
        (Throttled past either limit) until the password is found right."""
        taken = await self._throttle.take_login(address, username)
        async with self._pool.connection() as conn:
            cursor = await conn.execute(SELECT_USER_FOR_LOGIN, (username,))
            row = await cursor.fetchone()
        user_id, stored_hash = (int(row[0]), str(row[1])) if row else (None, None)
        if not await self._passwords.verify(stored_hash, password) or user_id is None:
            raise ValidationError(INVALID_CREDENTIALS)
        await self._throttle.give_back(taken)
        async with self._pool.connection() as conn:
            if stored_hash is not None and self._passwords.needs_rehash(stored_hash):
                new_hash = await self._passwords.hash(password)
                await conn.execute(UPDATE_PASSWORD_HASH, (new_hash, user_id))
            refresh = await self._issue_refresh(conn, user_id, uuid.uuid4())
        return TokenPair(self._access.issue(user_id), refresh)

    async def refresh(self, token: str) -> TokenPair:
        new_token, new_hash = new_refresh_token()
        params = {"old": refresh_token_hash(token), "new": new_hash, "ttl": self._refresh_ttl}
        async with self._pool.connection() as conn:
            cursor = await conn.execute(ROTATE_REFRESH, params)
            row = await cursor.fetchone()
            if row is None:
                await self._revoke_if_reused(conn, token)
                raise Unauthorized(INVALID_REFRESH)
        return TokenPair(self._access.issue(int(row[0])), new_token)

    async def log_out(self, token: str) -> None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(LOG_OUT_FAMILY, (refresh_token_hash(token),))
            if await cursor.fetchone() is None:
                await self._revoke_if_reused(conn, token)
                raise Unauthorized(INVALID_REFRESH)

    async def _revoke_if_reused(
        self, conn: AsyncConnection[tuple[object, ...]], token: str
    ) -> None:
        cursor = await conn.execute(REVOKE_REUSED_FAMILY, (refresh_token_hash(token),))
        revoked = await cursor.fetchall()
        if revoked:
            log.warning(
                "refresh token reused: its family is revoked",
                extra={"family": str(revoked[0][0]), "tokens_revoked": len(revoked)},
            )

    async def _issue_refresh(
        self, conn: AsyncConnection[tuple[object, ...]], user_id: int, family_id: uuid.UUID
    ) -> str:
        token, token_hash = new_refresh_token()
        await conn.execute(INSERT_REFRESH, (user_id, family_id, token_hash, self._refresh_ttl))
        return token
