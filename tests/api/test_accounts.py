"""Sign-up and login, on both path spellings, with every error of the contract."""

from __future__ import annotations

import httpx
import pytest

from api import passwords
from tests.api.helpers import PASSWORD, User

SIGNUP_PATHS = ["/api/signup/", "/signup/"]
LOGIN_PATHS = ["/api/login/", "/login/"]


@pytest.mark.parametrize("path", SIGNUP_PATHS)
async def test_signup_creates_an_account(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, json={"username": "carol.w+1@x", "password": PASSWORD})
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "carol.w+1@x"
    assert isinstance(body["id"], int)


async def test_signup_refuses_a_taken_username(client: httpx.AsyncClient, alice: User) -> None:
    response = await client.post("/signup/", json={"username": "alice", "password": "another one"})
    assert response.status_code == 400
    assert response.json() == {"error": "username 'alice' is already taken"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"password": PASSWORD}, "username is required"),
        ({"username": "dave"}, "password is required"),
        ({"username": "", "password": PASSWORD}, "username is required"),
        ({"username": "has space", "password": PASSWORD}, "username must be"),
        ({"username": "x" * 151, "password": PASSWORD}, "username must be"),
        ({"username": "semi;colon", "password": PASSWORD}, "username must be"),
        ({"username": 42, "password": PASSWORD}, "username must be"),
        ({"username": "dave", "password": "short"}, "password must be"),
        ({"username": "dave", "password": "x" * 257}, "password must be"),
        ({"username": "dave", "password": 12345678}, "password must be"),
    ],
)
async def test_signup_rejects_invalid_fields(
    client: httpx.AsyncClient, body: dict[str, object], message: str
) -> None:
    response = await client.post("/api/signup/", json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    # Nothing was created: the name is still free.
    retry = await client.post("/api/signup/", json={"username": "dave", "password": PASSWORD})
    assert retry.status_code == 201


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "request body is empty"),
        (b"{not json", "request body is not valid JSON"),
        (b"[1, 2]", "request body must be a JSON object"),
        (b'"text"', "request body must be a JSON object"),
    ],
)
async def test_malformed_bodies_are_400_not_500(
    client: httpx.AsyncClient, content: bytes, message: str
) -> None:
    response = await client.post("/api/signup/", content=content)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


async def test_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/signup/", json={"username": "eve", "password": "p" * 100_000}
    )
    assert response.status_code == 413
    assert "64" in response.json()["error"] or "65536" in response.json()["error"]


async def test_oversized_streamed_body_without_length_is_refused(
    client: httpx.AsyncClient,
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"x" * 1024

    response = await client.post("/api/signup/", content=chunks())
    assert response.status_code == 413


@pytest.mark.parametrize("path", LOGIN_PATHS)
async def test_login_returns_access_and_refresh_tokens(
    client: httpx.AsyncClient, alice: User, path: str
) -> None:
    response = await client.post(path, json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}
    listed = await client.get(
        "/api/alerts/", headers={"Authorization": f"Bearer {tokens['access']}"}
    )
    assert listed.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "wrong password"},
        {"username": "nobody", "password": PASSWORD},
    ],
)
async def test_login_refuses_bad_credentials_with_one_answer(
    client: httpx.AsyncClient, alice: User, body: dict[str, str]
) -> None:
    response = await client.post("/api/login/", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid username or password"}


async def test_login_with_missing_fields_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/login/", json={"username": "alice"})
    assert response.status_code == 400
    assert response.json() == {"error": "password is required"}


async def test_unknown_user_costs_a_full_password_check(
    client: httpx.AsyncClient, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unknown-user answer must not come back faster than a wrong password: both run one
    argon2 verification (timing itself is left to the benchmarks; this machine is too noisy)."""
    verified: list[str] = []
    real_verify = passwords._verify

    def spy(stored_hash: str, password: str) -> bool:
        verified.append(stored_hash)
        return real_verify(stored_hash, password)

    monkeypatch.setattr(passwords, "_verify", spy)
    await client.post("/login/", json={"username": "nobody", "password": PASSWORD})
    await client.post("/login/", json={"username": "alice", "password": "wrong password"})
    assert len(verified) == 2
    assert all(h.startswith("$argon2id$") for h in verified)
    # The same cost parameters, so the same work.
    assert verified[0].split("$")[3] == verified[1].split("$")[3]


async def test_password_is_stored_as_argon2id_never_in_clear(
    client: httpx.AsyncClient, alice: User, pool
) -> None:  # type: ignore[no-untyped-def]
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT password_hash FROM users WHERE username = 'alice'")
        (stored,) = await cursor.fetchone()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
