"""The fakes themselves: the webhook receiver and the Telegram Bot API speak their protocols and
follow their scripts, so that a channel test that fails points at the notifier, not at them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from tests.fake_telegram import BOT_TOKEN, FakeTelegram, too_many_requests
from tests.webhook_receiver import Drop, Hang, Reply, WebhookReceiver, new_secret

SECRET = new_secret()
BODY = orjson.dumps({"type": "alert.fired", "timestamp": "2026-11-26T12:00:00Z", "data": {}})


def signed(body: bytes, webhook_id: str = "alert-1-1", *, secret: str = SECRET) -> dict[str, str]:
    """Standard Webhooks headers, signed here from the spec, apart from the receiver's check."""
    timestamp = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{webhook_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{signature}",
    }


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(secret=SECRET) as receiver:
        yield receiver


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        yield client


# The webhook receiver.


async def test_a_correctly_signed_request_is_recorded_as_verified(
    receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    response = await http.post(f"{receiver.url}/hook", content=BODY, headers=signed(BODY))

    assert response.status_code == 200
    [received] = await receiver.wait_for(1, path="/hook")
    assert (received.method, received.path, received.body) == ("POST", "/hook", BODY)
    assert received.json["type"] == "alert.fired"
    assert received.webhook_id == "alert-1-1"
    assert received.headers["content-type"] == "application/json"
    assert (received.verified, received.error, received.status) == (True, None, 200)
    assert abs(received.at - int(received.headers["webhook-timestamp"])) < 5


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        ("body", "No matching signature"),
        ("secret", "No matching signature"),
        ("stale", "too old"),
        ("fractional timestamp", "not an integer"),
        ("no signature", "Missing required headers"),
        ("garbled signature", "No matching signature"),
    ],
)
async def test_a_tampered_request_is_recorded_as_not_verified(
    receiver: WebhookReceiver, http: httpx.AsyncClient, tamper: str, error: str
) -> None:
    body, headers = BODY, signed(BODY)
    if tamper == "body":
        body = BODY.replace(b"alert.fired", b"alert.fixed")
    elif tamper == "secret":
        headers = signed(BODY, secret=new_secret())
    elif tamper == "stale":
        stale = int(time.time()) - 600
        headers["webhook-timestamp"] = str(stale)
        key = base64.b64decode(SECRET.removeprefix("whsec_"))
        digest = hmac.new(key, f"alert-1-1.{stale}.".encode() + BODY, hashlib.sha256).digest()
        headers["webhook-signature"] = "v1," + base64.b64encode(digest).decode()
    elif tamper == "fractional timestamp":
        headers["webhook-timestamp"] += ".0"
    elif tamper == "no signature":
        del headers["webhook-signature"]
    else:
        headers["webhook-signature"] = "v1 no-comma"

    await http.post(f"{receiver.url}/hook", content=body, headers=headers)

    [received] = await receiver.wait_for(1)
    assert not received.verified
    assert received.error is not None
    assert error in received.error


async def test_each_path_is_checked_with_its_own_secret(
    receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    other = new_secret()
    receiver.endpoint("/other", secret=other)

    await http.post(f"{receiver.url}/other", content=BODY, headers=signed(BODY, secret=other))
    await http.post(f"{receiver.url}/other", content=BODY, headers=signed(BODY))

    assert [r.verified for r in await receiver.wait_for(2, path="/other")] == [True, False]


async def test_a_plan_is_followed_in_order_then_its_default(
    receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    gone = "/hook"
    receiver.plan(
        gone,
        [
            Reply(500),
            Reply(429, retry_after=1),
            Reply(429),
            Reply(302, location="http://127.0.0.1:1/elsewhere"),
            Reply(204),
        ],
        then=Reply(410),
    )

    responses = [await http.post(f"{receiver.url}{gone}", content=BODY) for _ in range(7)]

    assert [r.status_code for r in responses] == [500, 429, 429, 302, 204, 410, 410]
    assert responses[1].headers["retry-after"] == "1"
    assert "retry-after" not in responses[2].headers
    assert responses[3].headers["location"] == "http://127.0.0.1:1/elsewhere"
    assert [r.status for r in receiver.requests(gone)] == [500, 429, 429, 302, 204, 410, 410]
    unplanned = await http.post(f"{receiver.url}/unplanned", content=BODY)
    assert unplanned.status_code == 200


async def test_a_hang_holds_the_answer_until_released(
    receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    receiver.plan("/hook", [Hang()])
    sending = asyncio.create_task(http.post(f"{receiver.url}/hook", content=BODY))

    [received] = await receiver.wait_for(1)
    assert not sending.done()
    assert received.status is None
    assert receiver.release("/elsewhere") == 0
    assert receiver.release("/hook") == 1

    assert (await sending).status_code == 200
    assert received.status == 200


async def test_closing_cuts_a_hang_under_way(
    receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    url = f"{receiver.url}/hook"
    receiver.plan("/hook", [Hang()])
    sending = asyncio.create_task(http.post(url, content=BODY))
    await receiver.wait_for(1)

    await receiver.close()

    with pytest.raises(httpx.RemoteProtocolError):
        await sending
    with pytest.raises(httpx.ConnectError):  # refused: the port is closed
        await http.post(url, content=BODY)


async def test_a_timed_hang_answers_by_itself_or_outlasts_the_client(
    receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    receiver.plan("/hook", [Hang(seconds=0.2, then=Reply(503)), Hang(seconds=60)])

    started = time.perf_counter()
    late = await http.post(f"{receiver.url}/hook", content=BODY)
    assert late.status_code == 503
    assert time.perf_counter() - started >= 0.2
    with pytest.raises(httpx.ReadTimeout):
        await http.post(f"{receiver.url}/hook", content=BODY, timeout=0.2)

    assert [r.status for r in receiver.requests("/hook")] == [503, None]
    assert (await http.post(f"{receiver.url}/hook", content=BODY)).status_code == 200


async def test_a_drop_closes_the_connection_without_an_answer(
    receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    receiver.plan("/hook", [Drop(), Hang(seconds=0, then=Drop())])

    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(f"{receiver.url}/hook", content=BODY)

    assert (await http.post(f"{receiver.url}/hook", content=BODY)).status_code == 200
    assert [r.status for r in receiver.requests()] == [None, None, 200]


async def test_attempts_are_grouped_by_webhook_id(
    receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    receiver.plan("/hook", [Reply(500)])
    for webhook_id in ("alert-1-1", "alert-1-1", "alert-2-1"):
        await http.post(f"{receiver.url}/hook", content=BODY, headers=signed(BODY, webhook_id))

    groups = receiver.by_webhook_id()
    assert [r.status for r in groups["alert-1-1"]] == [500, 200]
    assert [r.status for r in groups["alert-2-1"]] == [200]
    assert receiver.delivered_twice() == []

    await http.post(f"{receiver.url}/hook", content=BODY, headers=signed(BODY, "alert-2-1"))
    assert receiver.delivered_twice() == ["alert-2-1"]


async def test_waiting_for_what_never_comes_fails_loudly(receiver: WebhookReceiver) -> None:
    with pytest.raises(AssertionError, match="for 1 requests to /hook; 0 came"):
        await receiver.wait_for(1, path="/hook", timeout=0.05)


# The Telegram Bot API.


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(chats=[42, "@PriceAlerts"], blocked=[666]) as fake:
        yield fake


def api(telegram: FakeTelegram, method: str, token: str = BOT_TOKEN) -> str:
    return f"{telegram.url}/bot{token}/{method}"


async def test_send_message_answers_as_the_api_and_is_recorded(
    telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    params = {"chat_id": 42, "text": "<b>BTCUSDT</b> above 65000.5", "parse_mode": "HTML"}

    response = await http.post(api(telegram, "sendMessage"), json=params)

    assert response.status_code == 200
    reply = response.json()
    assert reply["ok"] is True
    assert reply["result"]["chat"]["id"] == 42
    assert reply["result"]["text"] == params["text"]
    assert isinstance(reply["result"]["message_id"], int)
    assert abs(reply["result"]["date"] - time.time()) < 5
    [message] = await telegram.wait_for(1)
    assert (message.chat_id, message.text, message.parse_mode) == (42, params["text"], "HTML")


async def test_send_message_takes_a_form_and_a_channel_name(
    telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    form = {
        "chat_id": "@pricealerts",
        "text": "ETHUSDT below 3000",
        "disable_web_page_preview": "1",
    }

    reply = (await http.post(api(telegram, "sendMessage"), data=form)).json()

    assert reply["ok"] is True
    assert reply["result"]["chat"]["type"] == "channel"
    assert reply["result"]["chat"]["id"] < 0
    [message] = await telegram.wait_for(1)
    assert (message.chat_id, message.disable_web_page_preview) == ("@pricealerts", True)


async def test_get_me_describes_the_bot(telegram: FakeTelegram, http: httpx.AsyncClient) -> None:
    reply = (await http.get(api(telegram, "getMe"))).json()

    assert reply["ok"] is True
    assert reply["result"]["is_bot"] is True
    assert reply["result"]["id"] == int(BOT_TOKEN.split(":")[0])


@pytest.mark.parametrize(
    ("token", "chat_id", "text", "status", "description"),
    [
        ("123:wrong", 42, "hi", 401, "Unauthorized"),
        (BOT_TOKEN, 43, "hi", 400, "Bad Request: chat not found"),
        (BOT_TOKEN, "@nobody_here", "hi", 400, "Bad Request: chat not found"),
        (BOT_TOKEN, 666, "hi", 403, "Forbidden: bot was blocked by the user"),
        (BOT_TOKEN, 42, "", 400, "Bad Request: message text is empty"),
        (BOT_TOKEN, 42, "x" * 4097, 400, "Bad Request: message is too long"),
    ],
)
async def test_refusals_are_the_apis(
    telegram: FakeTelegram,
    http: httpx.AsyncClient,
    token: str,
    chat_id: int | str,
    text: str,
    status: int,
    description: str,
) -> None:
    params = {"chat_id": chat_id, "text": text}

    response = await http.post(api(telegram, "sendMessage", token), json=params)

    assert response.status_code == status
    assert response.json() == {"ok": False, "error_code": status, "description": description}
    assert telegram.messages == []
    assert [call.status for call in telegram.calls] == [status]


async def test_a_planned_429_carries_retry_after(
    telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    telegram.plan([too_many_requests(7)])
    params = {"chat_id": 42, "text": "hi"}

    refused = await http.post(api(telegram, "sendMessage"), json=params)
    accepted = await http.post(api(telegram, "sendMessage"), json=params)

    assert refused.status_code == 429
    assert refused.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert accepted.json()["ok"] is True
    assert telegram.rate_limited == 0


async def test_the_rate_limit_trips_past_max_per_second(http: httpx.AsyncClient) -> None:
    params = {"chat_id": 42, "text": "hi"}
    async with FakeTelegram(chats=[42], max_per_second=3) as fake:
        responses = [await http.post(api(fake, "sendMessage"), json=params) for _ in range(5)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    assert responses[3].json()["parameters"]["retry_after"] == 1
    assert (len(fake.messages), fake.rate_limited) == (3, 2)


@pytest.mark.parametrize(
    ("parse_mode", "text", "problem"),
    [
        ("MarkdownV2", "*BTCUSDT* above 65000\\.5", None),
        ("MarkdownV2", "`65000.5` is code", None),
        ("MarkdownV2", "*BTCUSDT* above 65000.5", "Character '.' is reserved"),
        ("HTML", "<b>BTC</b> &lt; <i>65000.5</i>", None),
        ("HTML", "BTC < 65000.5", 'Unsupported start tag " "'),
        ("HTML", "<b>BTC</i>", "Unmatched end tag"),
        ("HTML", "<b>BTC", "Can't find end tag"),
        ("Fancy", "hi", "unsupported parse_mode"),
    ],
)
async def test_a_text_its_parse_mode_cannot_parse_is_refused(
    telegram: FakeTelegram,
    http: httpx.AsyncClient,
    parse_mode: str,
    text: str,
    problem: str | None,
) -> None:
    params = {"chat_id": 42, "text": text, "parse_mode": parse_mode}

    reply = (await http.post(api(telegram, "sendMessage"), json=params)).json()

    if problem is None:
        assert reply["ok"] is True
    else:
        assert reply["error_code"] == 400
        assert problem in reply["description"]


async def test_waiting_for_messages_that_never_come_fails_loudly(
    telegram: FakeTelegram,
) -> None:
    with pytest.raises(AssertionError, match="for 1 messages; 0 came"):
        await telegram.wait_for(1, timeout=0.05)
