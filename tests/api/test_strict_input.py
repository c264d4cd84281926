"""Strict input: every request of the hardening report gets a 4xx naming the field, and the
documented forms, and only those, are accepted."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.fields import PRICE_MAX_DECIMALS, PRICE_MAX_DIGITS, PRICE_PATTERN
from tests.api.helpers import PASSWORD, User

ALERT = {"target_price": "50000", "trigger_condition": "above", "email": "alice@example.com"}


async def _create(client: httpx.AsyncClient, user: User, **fields: Any) -> httpx.Response:
    return await client.post("/api/alerts/create/", headers=user.headers, json=ALERT | fields)


@pytest.mark.parametrize(
    "price",
    [
        "1e1000000",
        "1e5",
        "1E5",
        "\u0663",
        "\uff11\uff12",
        "1_000",
        " 5 ",
        "5 ",
        "+5",
        "1,5",
        "0x10",
        "1.",
        ".5",
        "05",
        "00.5",
        "5.5.5",
        "",
        "9" * 5000,
        "\u00b2",
    ],
)
async def test_a_price_in_any_other_spelling_is_400(
    client: httpx.AsyncClient, alice: User, price: str
) -> None:
    response = await _create(client, alice, target_price=price)
    assert response.status_code == 400
    assert response.json()["error"].startswith("target_price")


async def test_a_json_number_too_big_for_a_double_is_400(
    client: httpx.AsyncClient, alice: User
) -> None:
    body = b'{"target_price": 1e1000000, "trigger_condition": "above", "email": "a@b.co"}'
    response = await client.post("/api/alerts/create/", headers=alice.headers, content=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("request body is not valid JSON")


@pytest.mark.parametrize(
    ("number", "stored"),
    [
        (50000, "50000"),
        (0.5, "0.5"),
        (0.00001, "0.00001"),
        (0.1 + 0.2, "0.3"),  # a client's float arithmetic: 0.30000000000000004
        (123456789.123456789, "123456789.123457"),
        (0.123456789, "0.12345679"),
    ],
)
async def test_a_json_number_is_read_as_the_nearest_price(
    client: httpx.AsyncClient, alice: User, number: float, stored: str
) -> None:
    response = await _create(client, alice, target_price=number)
    assert response.status_code == 201, response.text
    assert response.json()["target_price"] == stored


@pytest.mark.parametrize("number", [0, -1, 1e-9, 10**15, 1e300, True])
async def test_a_json_number_out_of_range_is_400(
    client: httpx.AsyncClient, alice: User, number: object
) -> None:
    response = await _create(client, alice, target_price=number)
    assert response.status_code == 400
    assert response.json()["error"].startswith("target_price")


@pytest.mark.parametrize(
    "email",
    [
        "a\x00b@x.com",
        "a\x01b@x.com",
        "ok@x.com\r\nBcc: eve@evil.example",
        "a..b@x.com",
        "a@-x.com",
        "a@x.com.",
        "a@1.2.3.4",
    ],
)
async def test_emails_with_control_characters_or_bad_form_are_400(
    client: httpx.AsyncClient, alice: User, email: str
) -> None:
    response = await _create(client, alice, email=email)
    assert response.status_code == 400
    assert response.json()["error"].startswith("email must")


@pytest.mark.parametrize("email", ["j\u00fcrgen@example.com", "a@b\u00fccher.de"])
async def test_non_ascii_addresses_get_a_clear_400(
    client: httpx.AsyncClient, alice: User, email: str
) -> None:
    response = await _create(client, alice, email=email)
    assert response.status_code == 400
    assert "ASCII" in response.json()["error"]
    assert "xn--" in response.json()["error"]


async def test_an_internationalised_domain_in_its_ascii_form_is_accepted(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await _create(client, alice, email="a@xn--bcher-kva.de")
    assert response.status_code == 201


async def test_symbol_null_means_the_default(client: httpx.AsyncClient, alice: User) -> None:
    response = await _create(client, alice, symbol=None)
    assert response.status_code == 201
    assert response.json()["symbol"] == "BTCUSDT"


@pytest.mark.parametrize("symbol", ["", " ethbtc ", "ETH\u00b2", "\uff25\uff34\uff28BTC"])
async def test_a_symbol_must_be_ascii_letters_and_digits(
    client: httpx.AsyncClient, alice: User, symbol: str
) -> None:
    response = await _create(client, alice, symbol=symbol)
    assert response.status_code == 400
    assert response.json()["error"].startswith("symbol must")


@pytest.mark.parametrize(
    "alert_id", ["9" * 5000, "9" * 20, "-3", " 5", "\u0665", 1.0, 1e30, "1e3", None]
)
async def test_an_alert_id_must_be_an_integer_of_bounded_length(
    client: httpx.AsyncClient, alice: User, alert_id: object
) -> None:
    response = await client.post(
        "/api/alerts/delete/", headers=alice.headers, json={"alert_id": alert_id}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("alert_id")


@pytest.mark.parametrize(
    "query",
    [
        "limit=%C2%B2",
        "before_id=%C2%B2",
        "limit=" + "9" * 5000,
        "before_id=" + "9" * 5000,
        "before_id=9223372036854775808",
        "limit=%EF%BC%91",
        "limit=+5",
        "state=CREATED",
    ],
)
async def test_query_numbers_must_be_ascii_digits_of_bounded_length(
    client: httpx.AsyncClient, alice: User, query: str
) -> None:
    response = await client.get(f"/api/alerts/?{query}", headers=alice.headers)
    assert response.status_code == 400
    assert response.json()["error"].split()[0] in ("limit", "before_id", "state")


async def test_empty_query_values_are_a_400_naming_the_first(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await client.get("/api/alerts/?state=&limit=&before_id=", headers=alice.headers)
    assert response.status_code == 400
    assert response.json() == {"error": "state is empty: give it a value, or leave it out"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/login/", {"username": "a\x00b", "password": "whatever1"}),
        ("/api/signup/", {"username": "a\x00b", "password": "whatever1"}),
        ("/api/signup/", {"username": "alice", "password": "with\x00nul!"}),
    ],
)
async def test_nul_in_credentials_is_400(
    client: httpx.AsyncClient, path: str, body: dict[str, str]
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 400
    assert response.json()["error"].split()[0] in ("username", "password")


async def test_the_next_page_link_is_relative_whatever_the_host(
    client: httpx.AsyncClient, alice: User, make_user: Any
) -> None:
    for price in ("1", "2"):
        assert (await _create(client, alice, target_price=price)).status_code == 201
    response = await client.get(
        "/fetch_alerts/?limit=1&state=created",
        headers=alice.headers | {"Host": "evil.example"},
    )
    link = response.headers["link"]
    assert link.startswith("</fetch_alerts/?state=created&before_id=")
    assert "evil.example" not in link
    assert link.endswith('&limit=1>; rel="next"')


@pytest.mark.parametrize("path", ["/api/token/refresh/", "/api/logout/"])
@pytest.mark.parametrize("content", [b"", b"[]", b"nope"])
async def test_refresh_and_logout_without_a_json_object_are_the_documented_400(
    client: httpx.AsyncClient, path: str, content: bytes
) -> None:
    response = await client.post(path, content=content)
    assert response.status_code == 400
    document = (await client.get("/openapi.json")).json()
    assert "400" in document["paths"][path]["post"]["responses"]


async def test_signup_answers_the_stored_username(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/signup/", json={"username": "\uff21lice", "password": PASSWORD}
    )
    assert response.status_code == 201
    assert response.json()["username"] == "Alice"


# The price rule, written the slow way: the pattern must accept exactly these spellings.
def _reference_price_rule(text: str) -> bool:
    if not text or not all(c in "0123456789." for c in text) or text.count(".") > 1:
        return False
    whole, point, fraction = text.partition(".")
    if not whole or (point and not fraction) or (len(whole) > 1 and whole[0] == "0"):
        return False
    value = Decimal(text)
    digits = value.normalize().as_tuple().digits
    return (
        value > 0
        and len(fraction) <= PRICE_MAX_DECIMALS
        and len(digits) <= PRICE_MAX_DIGITS
        and value < Decimal(10) ** PRICE_MAX_DIGITS
    )


@given(
    st.one_of(
        st.text(alphabet="0123456789.", max_size=26),
        st.from_regex(r"[1-9][0-9]{0,16}\.[0-9]{1,10}", fullmatch=True),
        st.from_regex(r"0\.[0-9]{1,10}", fullmatch=True),
        st.decimals(min_value=0, max_value=10**16, places=9).map(lambda d: format(d, "f")),
    )
)
def test_the_price_pattern_is_the_documented_rule(text: str) -> None:
    assert bool(PRICE_PATTERN.fullmatch(text)) == _reference_price_rule(text)
