"""Throttled logins and signups: 429 with Retry-After past a limit, counted in PostgreSQL so every
worker and replica shares the count, and never a lock-out of an account's owner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from ipaddress import ip_network

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from api.app import create_app
from shared.settings import Rate, Settings
from tests.api.helpers import PASSWORD, User

# The test client's socket address is 127.0.0.1: as a trusted proxy, it lets each request name
# its client in X-Forwarded-For.
BEHIND_OUR_PROXY = (ip_network("127.0.0.1/32"),)


@asynccontextmanager
async def client_of(
    settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(settings, pool=pool))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def _login(
    client: httpx.AsyncClient, username: str, password: str, address: str
) -> httpx.Response:
    body = {"username": username, "password": password}
    return await client.post("/api/login/", json=body, headers=_from(address))


@pytest.fixture
def throttled(settings: Settings) -> Settings:
    return replace(
        settings,
        trusted_proxies=BEHIND_OUR_PROXY,
        login_failures_per_account_address=Rate(3, 900),
        login_failures_per_address=Rate(5, 900),
        signups_per_address=Rate(2, 3600),
    )


async def test_failed_logins_for_an_account_from_one_address_are_throttled_not_locked(
    throttled: Settings, pool: AsyncConnectionPool, alice: User
) -> None:
    async with client_of(throttled, pool) as client:
        attacker = "203.0.113.7"
        answers = [await _login(client, "alice", "guess number one", attacker) for _ in range(4)]
        assert [a.status_code for a in answers] == [400, 400, 400, 429]
        refused = answers[-1]
        assert refused.json()["error"].startswith("too many failed logins from your address")
        assert 1 <= int(refused.headers["retry-after"]) <= 900
        # Even the right password waits: the throttle is checked before the password is.
        assert (await _login(client, "alice", PASSWORD, attacker)).status_code == 429
        # The owner, from anywhere else, is not locked out.
        victim = await _login(client, "alice", PASSWORD, "198.51.100.20")
        assert victim.status_code == 200
        assert set(victim.json()) == {"access", "refresh"}


async def test_failed_logins_from_one_address_are_throttled_across_usernames(
    throttled: Settings, pool: AsyncConnectionPool, clean_tables: None
) -> None:
    async with client_of(throttled, pool) as client:
        statuses = [
            (await _login(client, f"user{i}", "guess number one", "203.0.113.8")).status_code
            for i in range(6)
        ]
        assert statuses == [400] * 5 + [429]
        other = await _login(client, "user0", "guess number one", "203.0.113.9")
        assert other.status_code == 400


async def test_right_passwords_do_not_count_as_failures(
    throttled: Settings, pool: AsyncConnectionPool, alice: User
) -> None:
    async with client_of(throttled, pool) as client:
        for _ in range(10):
            assert (await _login(client, "ALICE", PASSWORD, "203.0.113.10")).status_code == 200


async def test_the_count_is_shared_by_every_worker(
    throttled: Settings, pool: AsyncConnectionPool, alice: User
) -> None:
    async with client_of(throttled, pool) as one, client_of(throttled, pool) as two:
        statuses = [
            (await _login(client, "alice", "guess number one", "203.0.113.11")).status_code
            for client in (one, two, one, two)
        ]
    assert statuses == [400, 400, 400, 429]


async def test_signups_from_one_address_are_throttled(
    throttled: Settings, pool: AsyncConnectionPool, clean_tables: None
) -> None:
    async with client_of(throttled, pool) as client:

        async def sign_up(name: str, address: str) -> httpx.Response:
            body = {"username": name, "password": PASSWORD}
            return await client.post("/api/signup/", json=body, headers=_from(address))

        statuses = [(await sign_up(f"new{i}", "203.0.113.12")).status_code for i in range(3)]
        assert statuses == [201, 201, 429]
        refused = await sign_up("new9", "203.0.113.12")
        assert refused.headers["retry-after"].isdigit()
        assert refused.json()["error"].startswith("too many signups from your address")
        assert (await sign_up("new9", "203.0.113.13")).status_code == 201


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    throttled: Settings, pool: AsyncConnectionPool, alice: User
) -> None:
    untrusting = replace(throttled, trusted_proxies=())
    async with client_of(untrusting, pool) as client:
        statuses = [
            (await _login(client, "alice", "guess number one", f"203.0.113.{i}")).status_code
            for i in range(4)
        ]
    # Every request came from 127.0.0.1, whatever each claimed.
    assert statuses == [400, 400, 400, 429]
