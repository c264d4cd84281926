"""Creating, deleting and listing alerts: every success and error of the contract, both path
spellings, and one user never reaching another's alerts."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from shared.settings import Settings
from tests.api.helpers import User, client_with_cap, sign_up

CREATE_PATHS = ["/api/alerts/create/", "/create_alert/"]
DELETE_PATHS = ["/api/alerts/delete/", "/delete_alert/"]
FETCH_PATHS = ["/api/alerts/", "/fetch_alerts/"]
ALERT = {"target_price": "50000", "trigger_condition": "above", "email": "alice@example.com"}


async def create(client: httpx.AsyncClient, user: User, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/alerts/create/", headers=user.headers, json=ALERT | fields)
    assert response.status_code == 201, response.text
    alert: dict[str, Any] = response.json()
    return alert


@pytest.mark.parametrize("path", CREATE_PATHS)
async def test_create_returns_the_new_alert(
    client: httpx.AsyncClient, alice: User, path: str
) -> None:
    response = await client.post(
        path,
        headers=alice.headers,
        json={
            "target_price": "0.00000123",
            "trigger_condition": "below",
            "email": "alice@example.com",
            "symbol": "ethbtc",
        },
    )
    assert response.status_code == 201
    alert = response.json()
    assert alert["symbol"] == "ETHBTC"
    assert alert["target_price"] == "0.00000123"
    assert alert["trigger_condition"] == "below"
    assert alert["email"] == "alice@example.com"
    assert alert["state"] == "created"
    assert alert["created_at"].endswith("Z")
    assert alert["triggered_at"] is None
    assert alert["triggered_price"] is None


async def test_symbol_defaults_to_btcusdt(client: httpx.AsyncClient, alice: User) -> None:
    assert (await create(client, alice))["symbol"] == "BTCUSDT"


@pytest.mark.parametrize(
    ("given", "returned"),
    [("50000.10", "50000.10"), (50000, "50000"), (0.5, "0.5"), ("0.00000010", "0.00000010")],
)
async def test_target_price_comes_back_as_written(
    client: httpx.AsyncClient, alice: User, given: object, returned: str
) -> None:
    assert (await create(client, alice, target_price=given))["target_price"] == returned


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"target_price": None}, "target_price is required"),
        ({"trigger_condition": None}, "trigger_condition is required"),
        ({"email": None}, "email is required"),
        ({"target_price": "abc"}, "target_price must be a decimal of ASCII digits"),
        ({"target_price": "0"}, "target_price must be a positive number"),
        ({"target_price": "0.000"}, "target_price must be a positive number"),
        ({"target_price": "-5"}, "target_price must be a decimal of ASCII digits"),
        ({"target_price": "NaN"}, "target_price must be a decimal of ASCII digits"),
        ({"target_price": "Infinity"}, "target_price must be a decimal of ASCII digits"),
        ({"target_price": "1.123456789"}, "target_price may have at most 8 decimal places"),
        ({"target_price": "1234567890123456"}, "target_price may have at most 15 significant"),
        ({"target_price": True}, "target_price must be a decimal string"),
        ({"target_price": [1]}, "target_price must be a decimal string"),
        ({"trigger_condition": "sideways"}, "trigger_condition must be one of above, below"),
        ({"trigger_condition": "ABOVE"}, "trigger_condition must be"),
        ({"email": "not-an-email"}, "email must be an address"),
        ({"email": "a@b"}, "email must be an address"),
        ({"email": "a b@example.com"}, "email must be an address"),
        ({"email": "x" * 250 + "@example.com"}, "email must be an address"),
        ({"symbol": "BTC-USDT"}, "symbol must be a Binance spot symbol"),
        ({"symbol": 7}, "symbol must be a Binance spot symbol"),
        ({"symbol": "NOSUCHCOIN"}, "unknown symbol 'NOSUCHCOIN'"),
    ],
)
async def test_create_rejects_bad_input_and_changes_nothing(
    client: httpx.AsyncClient, alice: User, fields: dict[str, Any], message: str
) -> None:
    body = {k: v for k, v in (ALERT | fields).items() if v is not None}
    response = await client.post("/create_alert/", headers=alice.headers, json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    listed = await client.get("/api/alerts/", headers=alice.headers)
    assert listed.json() == []


async def test_create_stops_at_the_live_alert_cap(
    client: httpx.AsyncClient, alice: User, settings: Settings
) -> None:
    cap = settings.max_live_alerts_per_user
    alerts = [await create(client, alice) for _ in range(cap)]
    refused = await client.post("/api/alerts/create/", headers=alice.headers, json=ALERT)
    assert refused.status_code == 400
    assert refused.json()["error"].startswith(f"you already have {cap} live alerts")
    # A deleted alert is not live: room for one more.
    await client.post(
        "/api/alerts/delete/", headers=alice.headers, json={"alert_id": alerts[0]["id"]}
    )
    assert (
        await client.post("/api/alerts/create/", headers=alice.headers, json=ALERT)
    ).status_code == 201


async def test_concurrent_creates_cannot_pass_the_cap(
    settings: Settings, pool: AsyncConnectionPool, alice: User
) -> None:
    async with client_with_cap(settings, pool, 3) as client:
        responses = await asyncio.gather(
            *(client.post("/create_alert/", headers=alice.headers, json=ALERT) for _ in range(12))
        )
    assert sorted(r.status_code for r in responses) == [201] * 3 + [400] * 9


async def test_concurrent_creates_each_get_their_own_answer(
    settings: Settings, pool: AsyncConnectionPool, clean_tables: None
) -> None:
    """Creates that arrive together share one database statement; each still gets its own
    answer, errors included."""
    async with client_with_cap(settings, pool, 2) as client:
        carol = await sign_up(client, "carol")
        dave = await sign_up(client, "dave")
        requests = [
            (carol, ALERT | {"symbol": "ETHUSDT", "target_price": "3000.5"}),
            (dave, ALERT | {"symbol": "NOSUCHCOIN"}),
            (carol, ALERT | {"symbol": "SOLUSDT"}),
            (dave, ALERT | {"target_price": "0.1"}),
            (carol, ALERT),  # carol's third: over her cap of 2
        ]
        responses = await asyncio.gather(
            *(client.post("/create_alert/", headers=u.headers, json=body) for u, body in requests)
        )
    codes = [r.status_code for r in responses]
    assert codes == [201, 400, 201, 201, 400]
    assert responses[0].json()["symbol"] == "ETHUSDT"
    assert responses[0].json()["target_price"] == "3000.5"
    assert responses[1].json()["error"].startswith("unknown symbol 'NOSUCHCOIN'")
    assert responses[3].json()["target_price"] == "0.1"
    assert responses[4].json()["error"].startswith("you already have 2 live alerts")
    ids = [responses[i].json()["id"] for i in (0, 2, 3)]
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, user_id, symbol, target_price::text FROM alerts ORDER BY id"
        )
        stored = await cursor.fetchall()
    assert sorted(ids) == [row[0] for row in stored]
    assert {(row[1], row[2], row[3]) for row in stored} == {
        (carol.id, "ETHUSDT", "3000.5"),
        (carol.id, "SOLUSDT", "50000"),
        (dave.id, "BTCUSDT", "0.1"),
    }


@pytest.mark.parametrize("path", DELETE_PATHS)
async def test_delete_marks_the_alert_deleted(
    client: httpx.AsyncClient, alice: User, path: str
) -> None:
    alert = await create(client, alice)
    response = await client.post(path, headers=alice.headers, json={"alert_id": alert["id"]})
    assert response.status_code == 200
    assert response.json() == alert | {"state": "deleted"}
    again = await client.post(path, headers=alice.headers, json={"alert_id": alert["id"]})
    assert again.status_code == 400
    assert again.json() == {"error": f"alert {alert['id']} is already deleted"}


async def test_delete_accepts_an_id_written_as_digits(
    client: httpx.AsyncClient, alice: User
) -> None:
    alert = await create(client, alice)
    response = await client.post(
        "/delete_alert/", headers=alice.headers, json={"alert_id": str(alert["id"])}
    )
    assert response.status_code == 200


async def test_a_triggered_alert_can_be_deleted(
    client: httpx.AsyncClient, alice: User, pool: AsyncConnectionPool
) -> None:
    alert = await create(client, alice)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE alerts SET state = 'triggered', triggered_at = now(), triggered_price = 50001,"
            " fire_count = 1"
        )
    response = await client.post(
        "/delete_alert/", headers=alice.headers, json={"alert_id": alert["id"]}
    )
    assert response.status_code == 200
    assert response.json()["state"] == "deleted"
    assert response.json()["triggered_price"] == "50001"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "alert_id is required"),
        ({"alert_id": "seven"}, "alert_id must be an integer"),
        ({"alert_id": 1.5}, "alert_id must be an integer"),
        ({"alert_id": True}, "alert_id must be an integer"),
        ({"alert_id": [1]}, "alert_id must be an integer"),
    ],
)
async def test_delete_rejects_a_missing_or_non_integer_id(
    client: httpx.AsyncClient, alice: User, body: dict[str, Any], message: str
) -> None:
    response = await client.post("/api/alerts/delete/", headers=alice.headers, json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


@pytest.mark.parametrize("alert_id", [999_999, 0, -3, 2**63])
async def test_delete_of_no_such_alert_is_404(
    client: httpx.AsyncClient, alice: User, alert_id: int
) -> None:
    response = await client.post(
        "/api/alerts/delete/", headers=alice.headers, json={"alert_id": alert_id}
    )
    assert response.status_code == 404
    assert "no alert with id" in response.json()["error"]


async def test_users_never_see_or_delete_each_others_alerts(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    alices = await create(client, alice)
    await create(client, bob, email="bob@example.com")

    stolen = await client.post(
        "/delete_alert/", headers=bob.headers, json={"alert_id": alices["id"]}
    )
    assert stolen.status_code == 404
    bobs_view = (await client.get("/fetch_alerts/", headers=bob.headers)).json()
    assert [a["email"] for a in bobs_view] == ["bob@example.com"]
    alices_view = (await client.get("/fetch_alerts/", headers=alice.headers)).json()
    assert alices_view == [alices]  # still there, still created


@pytest.mark.parametrize("path", FETCH_PATHS)
async def test_fetch_lists_newest_first_and_filters_by_state(
    client: httpx.AsyncClient, alice: User, path: str
) -> None:
    first = await create(client, alice, target_price="1")
    second = await create(client, alice, target_price="2")
    third = await create(client, alice, target_price="3")
    await client.post("/delete_alert/", headers=alice.headers, json={"alert_id": second["id"]})

    everything = (await client.get(path, headers=alice.headers)).json()
    assert [a["id"] for a in everything] == [third["id"], second["id"], first["id"]]
    created = (await client.get(path, headers=alice.headers, params={"state": "created"})).json()
    assert [a["id"] for a in created] == [third["id"], first["id"]]
    deleted = (await client.get(path, headers=alice.headers, params={"state": "deleted"})).json()
    assert [a["id"] for a in deleted] == [second["id"]]
    triggered = await client.get(path, headers=alice.headers, params={"state": "triggered"})
    assert triggered.json() == []


async def test_fetch_pages_follow_the_link_header(
    settings: Settings, pool: AsyncConnectionPool, clean_tables: None
) -> None:
    async with client_with_cap(settings, pool, 100) as client:
        carol = await sign_up(client, "carol")
        ids = [(await create(client, carol, target_price=str(i)))["id"] for i in range(1, 8)]
        seen: list[int] = []
        url: str | None = "/api/alerts/?limit=3"
        pages = 0
        while url:
            response = await client.get(url, headers=carol.headers)
            assert response.status_code == 200
            seen += [a["id"] for a in response.json()]
            pages += 1
            link = response.headers.get("link")
            url = link[1 : link.index(">")] if link else None
        assert seen == sorted(ids, reverse=True)
        assert pages == 3  # 3 + 3 + 1, and no empty fourth page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"state": "fired"}, "state must be one of created, triggered, paused, expired, deleted"),
        ({"limit": "0"}, "limit must be a whole number from 1 to 1000"),
        ({"limit": "1001"}, "limit must be a whole number from 1 to 1000"),
        ({"limit": "ten"}, "limit must be a whole number"),
        ({"before_id": "-1"}, "before_id must be a positive alert id"),
        ({"before_id": "x"}, "before_id must be a positive alert id"),
    ],
)
async def test_fetch_rejects_bad_query_parameters(
    client: httpx.AsyncClient, alice: User, query: dict[str, str], message: str
) -> None:
    response = await client.get("/api/alerts/", headers=alice.headers, params=query)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", p) for p in CREATE_PATHS + DELETE_PATHS] + [("GET", p) for p in FETCH_PATHS],
)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Basic YWxpY2U6cHc=", "Bearer not-a-token"]
)
async def test_alert_endpoints_demand_a_bearer_token(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.request(method, path, headers=headers, json=ALERT | {"alert_id": 1})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]
