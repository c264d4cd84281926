"""Strict bodies and queries: a key no field of the endpoint declares, or a query parameter
given empty, is a 400 naming it, and nothing changes; the document says so."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.api.helpers import PASSWORD, User

ALERT = {"target_price": "50000", "trigger_condition": "above", "email": "alice@example.com"}


async def _alert_count(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT count(*) FROM alerts")).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("path", ["/api/alerts/create/", "/create_alert/"])
async def test_a_misspelt_expires_at_is_a_400_naming_it(
    client: httpx.AsyncClient, alice: User, pool: AsyncConnectionPool, path: str
) -> None:
    body = ALERT | {"expires": "2099-01-01T00:00:00Z"}
    response = await client.post(path, headers=alice.headers, json=body)
    assert response.status_code == 400
    assert response.json() == {"error": "unknown field 'expires': did you mean 'expires_at'?"}
    assert await _alert_count(pool) == 0


async def test_a_misspelt_symbol_makes_no_alert_on_the_default_symbol(
    client: httpx.AsyncClient, alice: User, pool: AsyncConnectionPool
) -> None:
    response = await client.post(
        "/api/alerts/create/", headers=alice.headers, json=ALERT | {"symbl": "ETHUSDT"}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("unknown field 'symbl'")
    assert await _alert_count(pool) == 0
    listed = await client.get("/api/alerts/", headers=alice.headers)
    assert listed.json() == []


async def test_every_unknown_key_is_named_with_the_fields_there_are(
    client: httpx.AsyncClient,
) -> None:
    body = {"username": "dave", "password": PASSWORD, "zzz": 1, "qqq": 2}
    response = await client.post("/api/signup/", json=body)
    assert response.status_code == 400
    assert response.json() == {
        "error": "unknown fields 'zzz' and 'qqq': the fields are username and password"
    }


@pytest.mark.parametrize("path", ["/api/signup/", "/signup/"])
async def test_signup_with_an_unknown_key_makes_no_account(
    client: httpx.AsyncClient, path: str
) -> None:
    body = {"username": "dave", "password": PASSWORD, "email": "dave@example.com"}
    response = await client.post(path, json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("unknown field 'email'")
    retry = await client.post(path, json={"username": "dave", "password": PASSWORD})
    assert retry.status_code == 201  # the name was still free


@pytest.mark.parametrize("path", ["/api/login/", "/login/", "/api/session/login/"])
async def test_login_with_an_unknown_key_is_a_400_and_no_tokens(
    client: httpx.AsyncClient, alice: User, path: str
) -> None:
    body = {"username": "alice", "password": PASSWORD, "remember": True}
    response = await client.post(path, json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("unknown field 'remember'")
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("path", ["/api/token/refresh/", "/login/refresh/", "/api/logout/"])
async def test_refresh_and_logout_with_an_unknown_key_leave_the_token_as_it_was(
    client: httpx.AsyncClient, alice: User, path: str
) -> None:
    response = await client.post(path, json={"refresh": alice.refresh, "access": alice.access})
    assert response.status_code == 400
    assert response.json()["error"].startswith("unknown field 'access'")
    # Neither rotated nor revoked: the token still trades for new ones, once.
    again = await client.post("/api/token/refresh/", json={"refresh": alice.refresh})
    assert again.status_code == 200


@pytest.mark.parametrize("path", ["/api/alerts/delete/", "/delete_alert/"])
async def test_delete_with_an_unknown_key_deletes_nothing(
    client: httpx.AsyncClient, alice: User, path: str
) -> None:
    created = await client.post("/api/alerts/create/", headers=alice.headers, json=ALERT)
    alert_id = created.json()["id"]
    response = await client.post(
        path, headers=alice.headers, json={"alert_id": alert_id, "id": alert_id}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("unknown field 'id'")
    alert = await client.get(f"/api/alerts/{alert_id}/", headers=alice.headers)
    assert alert.json()["state"] == "created"


async def test_every_documented_body_refuses_other_keys(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    bodies = [
        (path, operation["requestBody"]["content"]["application/json"]["schema"])
        for path, operations in document["paths"].items()
        for operation in operations.values()
        if "requestBody" in operation
    ]
    assert len(bodies) == 12  # both spellings of signup, login, refresh, create, delete; + 2
    for path, schema in bodies:
        assert schema["additionalProperties"] is False, path


def _path_of(template: str, alert_id: int) -> str:
    return template.replace("{alert_id}", str(alert_id)).replace("{symbol}", "BTCUSDT")


async def test_every_query_parameter_given_empty_is_a_400_naming_it(
    client: httpx.AsyncClient, alice: User
) -> None:
    created = await client.post("/api/alerts/create/", headers=alice.headers, json=ALERT)
    document = (await client.get("/openapi.json")).json()
    asked: list[tuple[str, str]] = []
    for template, operations in document["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            if parameter["in"] != "query":
                continue
            path = _path_of(template, created.json()["id"])
            response = await client.get(f"{path}?{parameter['name']}=", headers=alice.headers)
            assert response.status_code == 400, (path, parameter["name"])
            assert response.json() == {
                "error": f"{parameter['name']} is empty: give it a value, or leave it out"
            }
            assert "allowEmptyValue" not in parameter
            asked.append((template, parameter["name"]))
    assert ("/api/alerts/", "limit") in asked
    assert len(asked) >= 9  # both spellings of fetch (3 each), events (2), prices, history


@pytest.mark.parametrize("query", ["limit=", "state=", "before_id=", "limit=5&state="])
async def test_an_empty_query_value_on_the_list_is_a_400(
    client: httpx.AsyncClient, alice: User, query: str
) -> None:
    response = await client.get(f"/fetch_alerts/?{query}", headers=alice.headers)
    assert response.status_code == 400
    assert " is empty: " in response.json()["error"]


async def test_the_fields_of_every_kind_and_channel_are_known(
    client: httpx.AsyncClient, alice: User
) -> None:
    """The accepted keys are the declared ones: none of them is ever 'unknown'."""
    document = (await client.get("/openapi.json")).json()
    schema = document["paths"]["/api/alerts/create/"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    for name in schema["properties"]:
        body: dict[str, Any] = ALERT | {name: None} if name not in ALERT else dict(ALERT)
        response = await client.post("/api/alerts/create/", headers=alice.headers, json=body)
        assert "unknown field" not in response.text, name
