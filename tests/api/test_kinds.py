"""Every kind of alert and every channel through the API: what a create accepts, every wrong
combination refused with a 400 naming the field, one alert, its events, pause and resume, and
the account's webhook secret."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from api.app import create_app
from shared.settings import Settings
from tests.api.helpers import User

FUTURE = (datetime.now(UTC) + timedelta(days=30)).isoformat().replace("+00:00", "Z")
LEVEL = {"trigger_condition": "above", "target_price": "50000", "email": "a@example.com"}
MOVE = {"trigger_condition": "up_pct", "percent": "5", "window": "1h", "email": "a@example.com"}


async def create(client: httpx.AsyncClient, user: User, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/alerts/create/", headers=user.headers, json=body)


async def alerts_in_database(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT count(*) FROM alerts")
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_the_seeds_four_fields_get_the_same_answer_plus_the_new_fields(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await create(client, alice, LEVEL)
    assert response.status_code == 201
    alert = response.json()
    assert list(alert)[:9] == [
        "id",
        "symbol",
        "target_price",
        "trigger_condition",
        "email",
        "state",
        "created_at",
        "triggered_at",
        "triggered_price",
    ]
    assert alert["target_price"] == "50000"
    assert alert["frequency"] == "once"
    assert alert["cooldown_seconds"] is None
    assert alert["percent"] is None
    assert alert["fire_count"] == 0
    assert alert["webhook_url"] is None


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (LEVEL | {"trigger_condition": "crossing"}, {"trigger_condition": "crossing"}),
        (MOVE, {"percent": "5", "window": "1h", "target_price": None}),
        (
            MOVE | {"trigger_condition": "down_pct", "percent": "12.3456", "window": "1d"},
            {"percent": "12.3456", "window": "1d"},
        ),
        (
            LEVEL | {"frequency": "repeat"},
            {"frequency": "repeat", "cooldown_seconds": 3600},
        ),
        (
            MOVE | {"frequency": "repeat", "cooldown_seconds": 60, "expires_at": FUTURE},
            {"cooldown_seconds": 60, "expires_at": FUTURE.replace("Z", "") + "Z"},
        ),
        (
            {
                "trigger_condition": "below",
                "target_price": "2000",
                "webhook_url": "https://hooks.example.com/alerts",
            },
            {"email": None, "webhook_format": "standard"},
        ),
        (
            LEVEL
            | {"webhook_url": "https://discord.com/api/webhooks/1/x", "webhook_format": "discord"},
            {"webhook_format": "discord"},
        ),
    ],
)
async def test_every_kind_is_created_with_its_fields(
    client: httpx.AsyncClient, alice: User, body: dict[str, Any], shown: dict[str, Any]
) -> None:
    response = await create(client, alice, body)
    assert response.status_code == 201, response.text
    alert = response.json()
    assert alert["state"] == "created"
    for name, value in shown.items():
        if name == "expires_at":
            assert datetime.fromisoformat(alert[name]) == datetime.fromisoformat(value)
        else:
            assert alert[name] == value, name


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({k: v for k, v in LEVEL.items() if k != "target_price"}, "target_price is required"),
        (LEVEL | {"percent": "5"}, "percent is for up_pct and down_pct"),
        (LEVEL | {"window": "1h"}, "window is for up_pct and down_pct"),
        (MOVE | {"target_price": "100"}, "target_price is for above, below and crossing"),
        ({k: v for k, v in MOVE.items() if k != "percent"}, "percent is required"),
        ({k: v for k, v in MOVE.items() if k != "window"}, "window is required"),
        (MOVE | {"percent": "0"}, "percent must be"),
        (MOVE | {"percent": "1000.5"}, "percent must be"),
        (MOVE | {"percent": "1.23456"}, "percent must be"),
        (MOVE | {"percent": "-5"}, "percent must be"),
        (MOVE | {"window": "2h"}, "window must be one of"),
        (LEVEL | {"frequency": "daily"}, "frequency must be"),
        (LEVEL | {"cooldown_seconds": 600}, "cooldown_seconds is for frequency"),
        (LEVEL | {"frequency": "repeat", "cooldown_seconds": 59}, "cooldown_seconds must be"),
        (LEVEL | {"frequency": "repeat", "cooldown_seconds": "600"}, "cooldown_seconds must be"),
        (LEVEL | {"expires_at": "2020-01-01T00:00:00Z"}, "expires_at must be in the future"),
        (LEVEL | {"expires_at": "2030-01-01T00:00:00"}, "expires_at must say its time zone"),
        (LEVEL | {"expires_at": "2999-01-01T00:00:00Z"}, "expires_at must be at most 366"),
        (LEVEL | {"expires_at": "tomorrow"}, "expires_at must be an ISO 8601"),
        ({"trigger_condition": "above", "target_price": "1"}, "email is required"),
        (LEVEL | {"webhook_url": "http://hooks.example.com/x"}, "webhook_url must be an https"),
        (LEVEL | {"webhook_url": "https://10.0.0.7/x"}, "webhook_url must not point at 10.0.0.7"),
        (LEVEL | {"webhook_url": "https://[::1]/x"}, "webhook_url must not point at ::1"),
        (LEVEL | {"webhook_url": "ftp://example.com/x"}, "webhook_url must be an https"),
        (LEVEL | {"webhook_url": "https://user:pw@example.com/"}, "webhook_url must not hold"),
        (LEVEL | {"webhook_url": "https://exa mple.com/"}, "webhook_url must be an ASCII URL"),
        (LEVEL | {"webhook_url": "https://example.com/\u0000"}, "webhook_url must not contain"),
        (LEVEL | {"webhook_format": "slack"}, "webhook_format goes with webhook_url"),
        (
            LEVEL | {"webhook_url": "https://example.com/", "webhook_format": "teams"},
            "webhook_format must be one of",
        ),
        (LEVEL | {"telegram_chat_id": 12345}, "telegram_chat_id cannot be used"),
    ],
)
async def test_every_wrong_combination_is_a_400_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient,
    alice: User,
    pool: AsyncConnectionPool,
    body: dict[str, Any],
    named: str,
) -> None:
    response = await create(client, alice, body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(named), response.json()
    assert await alerts_in_database(pool) == 0


async def test_telegram_is_a_channel_when_the_server_has_a_bot(
    settings: Settings, pool: AsyncConnectionPool, alice: User
) -> None:
    app = create_app(replace(settings, telegram_bot_token="123:abc"), pool=pool)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for chat in (-1001234567890, "@pricealerts"):
            body = {"trigger_condition": "below", "target_price": "1", "telegram_chat_id": chat}
            response = await create(client, alice, body)
            assert response.status_code == 201, response.text
            assert response.json()["telegram_chat_id"] == str(chat)
        response = await create(client, alice, LEVEL | {"telegram_chat_id": "@no"})
        assert response.status_code == 400
        assert response.json()["error"].startswith("telegram_chat_id must be")


async def test_one_alert_is_its_owners_alone(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    alert = (await create(client, alice, LEVEL)).json()
    mine = await client.get(f"/api/alerts/{alert['id']}/", headers=alice.headers)
    assert mine.json() == alert
    theirs = await client.get(f"/api/alerts/{alert['id']}/", headers=bob.headers)
    assert theirs.status_code == 404
    assert (await client.get("/api/alerts/999999/", headers=alice.headers)).status_code == 404
    huge = "9" * 30
    assert (await client.get(f"/api/alerts/{huge}/", headers=alice.headers)).status_code == 404


async def test_pause_and_resume_move_an_alert_out_of_the_cap_and_back(
    client: httpx.AsyncClient, alice: User
) -> None:
    ids = [(await create(client, alice, LEVEL)).json()["id"] for _ in range(5)]  # the cap is 5
    assert (await create(client, alice, LEVEL)).status_code == 400
    paused = await client.post(f"/api/alerts/{ids[0]}/pause/", headers=alice.headers)
    assert paused.status_code == 200
    assert paused.json()["state"] == "paused"
    again = await client.post(f"/api/alerts/{ids[0]}/pause/", headers=alice.headers)
    assert again.status_code == 400
    assert "only a live" in again.json()["error"]
    extra = await create(client, alice, LEVEL)  # a paused alert leaves room
    assert extra.status_code == 201
    full = await client.post(f"/api/alerts/{ids[0]}/resume/", headers=alice.headers)
    assert full.status_code == 400
    assert "live alerts" in full.json()["error"]
    await client.post("/api/alerts/delete/", headers=alice.headers, json={"alert_id": ids[1]})
    resumed = await client.post(f"/api/alerts/{ids[0]}/resume/", headers=alice.headers)
    assert resumed.status_code == 200
    assert resumed.json()["state"] == "created"
    not_paused = await client.post(f"/api/alerts/{ids[0]}/resume/", headers=alice.headers)
    assert not_paused.status_code == 400
    listed = await client.get("/api/alerts/?state=paused", headers=alice.headers)
    assert listed.json() == []


async def test_an_alert_past_its_expiry_reads_as_expired(
    client: httpx.AsyncClient, alice: User, pool: AsyncConnectionPool
) -> None:
    alert = (await create(client, alice, LEVEL | {"expires_at": FUTURE})).json()
    async with pool.connection() as conn:  # as if its time had come
        await conn.execute(
            "UPDATE alerts SET expires_at = now() - interval '1 second' WHERE id = %s",
            (alert["id"],),
        )
    shown = (await client.get(f"/api/alerts/{alert['id']}/", headers=alice.headers)).json()
    assert shown["state"] == "expired"
    listed = await client.get("/api/alerts/?state=expired", headers=alice.headers)
    assert [a["id"] for a in listed.json()] == [alert["id"]]
    paused = await client.post(f"/api/alerts/{alert['id']}/pause/", headers=alice.headers)
    assert paused.status_code == 400


async def test_events_list_each_fire_with_each_channels_delivery(
    client: httpx.AsyncClient, alice: User, pool: AsyncConnectionPool
) -> None:
    body = LEVEL | {"frequency": "repeat", "webhook_url": "https://hooks.example.com/x"}
    alert = (await create(client, alice, body)).json()
    async with pool.connection() as conn:  # two fires, as the matcher and notifier write them
        for seq, price, minutes in ((1, "50001", 60), (2, "50500", 1)):
            await conn.execute(
                "INSERT INTO alert_fires (alert_id, seq, price, fired_at, shard_bucket)"
                " VALUES (%s, %s, %s, now() - %s * interval '1 minute', 0)",
                (alert["id"], seq, price, minutes),
            )
        await conn.execute(
            "INSERT INTO deliveries (alert_id, seq, channel, status, attempts, sent_at)"
            " VALUES (%s, 1, 'email', 'sent', 1, now()), (%s, 2, 'email', 'sent', 1, now())",
            (alert["id"], alert["id"]),
        )
        await conn.execute(
            "INSERT INTO deliveries (alert_id, seq, channel, status, attempts, last_error)"
            " VALUES (%s, 1, 'webhook', 'parked', 1, '410 Gone: the endpoint is gone')",
            (alert["id"],),
        )
    response = await client.get(f"/api/alerts/{alert['id']}/events/", headers=alice.headers)
    assert response.status_code == 200
    newest, oldest = response.json()
    assert (newest["seq"], newest["price"]) == (2, "50500")
    assert [(d["channel"], d["status"]) for d in newest["deliveries"]] == [
        ("email", "sent"),
        ("webhook", "pending"),
    ]
    webhook = oldest["deliveries"][1]
    assert (webhook["status"], webhook["attempts"]) == ("parked", 1)
    assert webhook["last_error"].startswith("410")
    page = await client.get(f"/api/alerts/{alert['id']}/events/?limit=1", headers=alice.headers)
    assert [e["seq"] for e in page.json()] == [2]
    assert "before_seq=2" in page.headers["link"]


async def test_the_account_shows_a_webhook_secret_that_rotates(
    client: httpx.AsyncClient, alice: User
) -> None:
    account = (await client.get("/api/account/", headers=alice.headers)).json()
    assert account["id"] == alice.id
    assert account["username"] == "alice"
    assert account["webhook_secret"].startswith("whsec_")
    again = (await client.get("/api/account/", headers=alice.headers)).json()
    assert again == account
    rotated = await client.post("/api/account/webhook-secret/", headers=alice.headers)
    assert rotated.status_code == 200
    assert rotated.json()["webhook_secret"] != account["webhook_secret"]
    assert (await client.get("/api/account/")).status_code == 401
