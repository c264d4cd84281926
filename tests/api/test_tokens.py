"""The token life cycle: access expiry, refresh rotation, reuse detection, logout."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from psycopg_pool import AsyncConnectionPool

from api.tokens import AccessTokens
from shared.errors import Unauthorized
from tests.api.helpers import JWT_SECRET, User

REFRESH_PATHS = ["/api/token/refresh/", "/login/refresh/"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", REFRESH_PATHS)
async def test_refresh_rotates_the_refresh_token(
    client: httpx.AsyncClient, alice: User, path: str
) -> None:
    response = await client.post(path, json={"refresh": alice.refresh})
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["refresh"] != alice.refresh
    assert (await client.get("/api/alerts/", headers=_bearer(tokens["access"]))).status_code == 200
    # The new refresh token works once more.
    again = await client.post(path, json={"refresh": tokens["refresh"]})
    assert again.status_code == 200


async def test_reusing_a_refresh_token_revokes_its_whole_family(
    client: httpx.AsyncClient, alice: User
) -> None:
    first = await client.post("/api/token/refresh/", json={"refresh": alice.refresh})
    newest = first.json()["refresh"]

    reuse = await client.post("/api/token/refresh/", json={"refresh": alice.refresh})
    assert reuse.status_code == 401
    assert reuse.headers["www-authenticate"].startswith("Bearer")

    # Whoever held the newest token (the user or the thief) is logged out too.
    after = await client.post("/api/token/refresh/", json={"refresh": newest})
    assert after.status_code == 401


async def test_reuse_does_not_touch_other_sessions(client: httpx.AsyncClient, alice: User) -> None:
    second_login = await client.post(
        "/api/login/", json={"username": "alice", "password": "correct horse battery"}
    )
    other_session = second_login.json()["refresh"]
    await client.post("/api/token/refresh/", json={"refresh": alice.refresh})
    await client.post("/api/token/refresh/", json={"refresh": alice.refresh})  # reuse
    still = await client.post("/api/token/refresh/", json={"refresh": other_session})
    assert still.status_code == 200


async def test_logout_revokes_the_family(client: httpx.AsyncClient, alice: User) -> None:
    rotated = (await client.post("/api/token/refresh/", json={"refresh": alice.refresh})).json()
    response = await client.post("/api/logout/", json={"refresh": rotated["refresh"]})
    assert response.status_code == 204
    assert response.content == b""
    after = await client.post("/api/token/refresh/", json={"refresh": rotated["refresh"]})
    assert after.status_code == 401
    twice = await client.post("/api/logout/", json={"refresh": rotated["refresh"]})
    assert twice.status_code == 401


@pytest.mark.parametrize("path", [*REFRESH_PATHS, "/api/logout/"])
@pytest.mark.parametrize("body", [{}, {"refresh": ""}, {"refresh": 5}, {"refresh": "made-up"}])
async def test_refresh_and_logout_refuse_bad_tokens(
    client: httpx.AsyncClient, path: str, body: dict[str, object]
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 401
    assert "refresh" in response.json()["error"]


async def test_expired_refresh_token_is_refused(
    client: httpx.AsyncClient, alice: User, pool: AsyncConnectionPool
) -> None:
    async with pool.connection() as conn:
        await conn.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
    response = await client.post("/api/token/refresh/", json={"refresh": alice.refresh})
    assert response.status_code == 401


async def test_refresh_token_is_stored_only_as_a_hash(
    alice: User, pool: AsyncConnectionPool
) -> None:
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT token_hash FROM refresh_tokens")
        stored = [bytes(row[0]) for row in await cursor.fetchall()]
    assert stored
    assert all(alice.refresh.encode() not in value for value in stored)


def _forge(claims: dict[str, object], secret: str = JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _claims(**overrides: object) -> dict[str, object]:
    # Built at collection: they must outlive the tests that run before them (the fuzzing alone
    # takes a minute).
    now = int(time.time())
    claims: dict[str, object] = {"sub": "1", "type": "access", "iat": now, "exp": now + 3600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (_forge(_claims(exp=int(time.time()) - 5)), "access token has expired"),
        (
            _forge(_claims(), secret="another-secret-that-is-also-long-enough-to-not-warn-01234"),
            "invalid",
        ),
        (_forge(_claims(type="refresh")), "invalid"),
        (_forge(_claims(type=None)), "invalid"),
        (_forge(_claims(exp=None)), "invalid"),
        (_forge(_claims(sub="admin")), "invalid"),
        (_forge(_claims(), algorithm="HS512"), "invalid"),
        (jwt.encode(_claims(), key=None, algorithm="none"), "invalid"),
        ("not.a.jwt", "invalid"),
    ],
)
async def test_bad_access_tokens_are_401(
    client: httpx.AsyncClient, alice: User, token: str, message: str
) -> None:
    response = await client.get("/api/alerts/", headers=_bearer(token))
    assert response.status_code == 401
    assert message in response.json()["error"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await client.get("/api/alerts/", headers=_bearer(alice.refresh))
    assert response.status_code == 401


async def test_token_of_a_vanished_account_cannot_create(
    client: httpx.AsyncClient, alice: User, pool: AsyncConnectionPool
) -> None:
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM users WHERE id = %s", (alice.id,))
    response = await client.post(
        "/api/alerts/create/",
        headers=alice.headers,
        json={"target_price": "1", "trigger_condition": "above", "email": "a@example.com"},
    )
    assert response.status_code == 401


def test_a_token_accepted_before_is_refused_once_it_has_expired() -> None:
    now = [time.time()]
    tokens = AccessTokens(JWT_SECRET, ttl_seconds=60, clock=lambda: now[0])
    token = tokens.issue(7)
    assert tokens.user_id(token) == 7
    assert tokens.user_id(token) == 7  # the second time from the verified tokens
    now[0] += 60  # PyJWT's rule: expired from exp on
    with pytest.raises(Unauthorized, match="access token has expired"):
        tokens.user_id(token)


def test_forged_tokens_are_refused_every_time_beside_verified_ones() -> None:
    tokens = AccessTokens(JWT_SECRET, ttl_seconds=60, kept=2)
    issued = [tokens.issue(user) for user in (1, 2, 3)]
    forged = _forge(_claims(sub="1"), secret="another-secret-that-is-also-long-enough-to-warn-0")
    for _ in range(2):
        assert [tokens.user_id(token) for token in issued] == [1, 2, 3]
        with pytest.raises(Unauthorized, match="invalid"):
            tokens.user_id(forged)
        head, payload, signature = issued[0].split(".")
        with pytest.raises(Unauthorized, match="invalid"):
            tokens.user_id(f"{head}.{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}")
