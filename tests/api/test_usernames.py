"""Usernames: NFKC-normalised, unique without regard to case; and the upgrade of a database that
already holds names differing only by case."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from shared import migrate as migrate_module
from shared.migrate import available_migrations, migrate
from tests.api.helpers import PASSWORD, User


@pytest.mark.parametrize("name", ["alice", "ALICE", "Alice", "\uff21lice", "\uff41\uff4c\uff49ce"])
async def test_a_name_is_taken_whatever_its_case_or_width(
    client: httpx.AsyncClient, alice: User, name: str
) -> None:
    response = await client.post("/api/signup/", json={"username": name, "password": PASSWORD})
    assert response.status_code == 400
    assert "already taken" in response.json()["error"]


@pytest.mark.parametrize("name", ["ALICE", "Alice", "\uff21lice"])
async def test_login_finds_the_account_whatever_the_case(
    client: httpx.AsyncClient, alice: User, name: str
) -> None:
    response = await client.post("/api/login/", json={"username": name, "password": PASSWORD})
    assert response.status_code == 200


async def test_upgrading_keeps_the_oldest_name_and_renames_the_newer_ones(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = available_migrations()
    before = [m for m in shipped if m.version < 5]
    monkeypatch.setattr(migrate_module, "available_migrations", lambda: before)
    await migrate(empty_database_url)
    names = ["alice", "bob", "ALICE", "\uff21lice", "Bob", "carol"]
    async with await psycopg.AsyncConnection.connect(empty_database_url, autocommit=True) as conn:
        for name in names:
            await conn.execute(
                "INSERT INTO users (username, password_hash) VALUES (%s, 'x')", (name,)
            )
        upgrade = [m for m in shipped if m.version <= 5]
        monkeypatch.setattr(migrate_module, "available_migrations", lambda: upgrade)
        applied = await migrate(empty_database_url)
        assert [m.version for m in applied] == [5]
        cursor = await conn.execute("SELECT id, username FROM users ORDER BY id")
        assert await cursor.fetchall() == [
            (1, "alice"),
            (2, "bob"),
            (3, "ALICE~3"),
            (4, "Alice~4"),  # normalised, then renamed
            (5, "Bob~5"),
            (6, "carol"),
        ]
        cursor = await conn.execute(
            "SELECT user_id, old_username, new_username FROM username_renames ORDER BY user_id"
        )
        assert await cursor.fetchall() == [
            (3, "ALICE", "ALICE~3"),
            (4, "\uff21lice", "Alice~4"),
            (5, "Bob", "Bob~5"),
        ]
        with pytest.raises(psycopg.errors.UniqueViolation):
            await conn.execute("INSERT INTO users (username, password_hash) VALUES ('CAROL', 'x')")


async def test_a_lone_unnormalised_name_is_normalised_in_place(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = available_migrations()
    monkeypatch.setattr(
        migrate_module, "available_migrations", lambda: [m for m in shipped if m.version < 5]
    )
    await migrate(empty_database_url)
    async with await psycopg.AsyncConnection.connect(empty_database_url, autocommit=True) as conn:
        await conn.execute("INSERT INTO users (username, password_hash) VALUES ('\uff24ave', 'x')")
        monkeypatch.setattr(migrate_module, "available_migrations", lambda: shipped)
        await migrate(empty_database_url)
        cursor = await conn.execute("SELECT username FROM users")
        assert await cursor.fetchall() == [("Dave",)]
        cursor = await conn.execute("SELECT count(*) FROM username_renames")
        assert await cursor.fetchone() == (0,)
