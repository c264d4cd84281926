"""The web page's side of the API: the page and its files, the security headers on every
answer, and the session endpoints whose refresh token lives in a cookie the page cannot read."""

from __future__ import annotations

import re

import httpx
import pytest

from api.page import load_static
from tests.api.helpers import PASSWORD, User

PAGE_CSP = re.compile(r"default-src 'self'.*frame-ancestors 'none'")


def refresh_cookie(response: httpx.Response) -> tuple[str, str]:
    """The session cookie's value and its attributes, from Set-Cookie."""
    header = response.headers["set-cookie"]
    name_value, _, attributes = header.partition(";")
    name, _, value = name_value.partition("=")
    assert name == "pricealert_refresh"
    return value, attributes.lower()


async def page_login(client: httpx.AsyncClient, username: str) -> httpx.Response:
    return await client.post(
        "/api/session/login/", json={"username": username, "password": PASSWORD}
    )


@pytest.mark.parametrize("path", ["/", "/docs"])
async def test_the_pages_are_html_under_a_strict_policy(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert PAGE_CSP.search(policy)
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    # Nothing inline for the policy to refuse: no script bodies, no style attributes.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)
    assert " style=" not in response.text
    assert "<style" not in response.text
    assert not re.search(r"<[^>]*\son[a-z]+=", response.text)  # no event handler attributes


async def test_every_page_file_is_served_with_its_type_and_revalidated(
    client: httpx.AsyncClient,
) -> None:
    files = load_static()
    assert {"index.html", "app.js", "app.css", "vendor/uPlot.iife.min.js"} <= set(files)
    for name, file in files.items():
        if name.endswith(".html"):
            continue
        response = await client.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert response.content == file.body
        assert response.headers["content-type"] == file.media_type
        assert response.headers["cache-control"] == "no-cache"
        again = await client.get(f"/static/{name}", headers={"if-none-match": file.etag})
        assert again.status_code == 304
        assert again.content == b""


@pytest.mark.parametrize(
    "path", ["/static/nope.js", "/static/vendor/README.md", "/static/../api/app.py"]
)
async def test_only_the_page_files_are_served(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 404


async def test_api_answers_carry_a_deny_all_policy(client: httpx.AsyncClient, alice: User) -> None:
    for response in (
        await client.get("/api/alerts/", headers=alice.headers),
        await client.get("/api/alerts/"),  # an error too
        await client.get("/openapi.json"),
    ):
        assert response.headers["content-security-policy"] == (
            "default-src 'none'; frame-ancestors 'none'"
        )
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


async def test_page_login_puts_the_refresh_token_in_a_scoped_httponly_cookie(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await page_login(client, alice.username)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "expires_in"}  # no refresh token for the script to keep
    value, attributes = refresh_cookie(response)
    assert value
    for attribute in ("httponly", "secure", "samesite=strict", "path=/api/session/"):
        assert attribute in attributes
    account = await client.get(
        "/api/account/", headers={"Authorization": f"Bearer {body['access']}"}
    )
    assert account.json()["username"] == alice.username


async def test_the_cookie_refreshes_rotates_and_logs_out(
    client: httpx.AsyncClient, alice: User
) -> None:
    first, _ = refresh_cookie(await page_login(client, alice.username))
    refreshed = await client.post(
        "/api/session/refresh/", json={}, headers={"cookie": f"pricealert_refresh={first}"}
    )
    assert refreshed.status_code == 200
    assert "access" in refreshed.json()
    second, _ = refresh_cookie(refreshed)
    assert second != first
    # The old cookie again is a reuse: refused, like a reused refresh token on the JSON API.
    reused = await client.post(
        "/api/session/refresh/", json={}, headers={"cookie": f"pricealert_refresh={first}"}
    )
    assert reused.status_code == 401
    out = await client.post(
        "/api/session/logout/", json={}, headers={"cookie": f"pricealert_refresh={second}"}
    )
    assert out.status_code == 204
    _, attributes = refresh_cookie(out)
    assert "max-age=0" in attributes
    # Logging out twice, or with no cookie at all, is still a logged-out answer.
    assert (await client.post("/api/session/logout/", json={})).status_code == 204


async def test_refresh_without_a_cookie_is_204_with_no_token(client: httpx.AsyncClient) -> None:
    """A logged-out visit asks too (the page cannot read its HttpOnly cookie): not a failure."""
    response = await client.post("/api/session/refresh/", json={})
    assert response.status_code == 204
    assert response.content == b""
    assert "set-cookie" not in response.headers


async def test_refresh_with_a_bad_cookie_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/session/refresh/", json={}, headers={"cookie": "pricealert_refresh=forged"}
    )
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


async def test_session_endpoints_want_json_so_a_cross_site_form_cannot_post(
    client: httpx.AsyncClient, alice: User
) -> None:
    form = await client.post(
        "/api/session/login/",
        content=f'{{"username": "{alice.username}", "password": "{PASSWORD}"}}',
        headers={"content-type": "text/plain"},
    )
    assert form.status_code == 400
    assert "set-cookie" not in form.headers


async def test_the_json_refresh_endpoint_is_unchanged(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await client.post("/api/token/refresh/", json={"refresh": alice.refresh})
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    assert "set-cookie" not in response.headers


async def test_the_openapi_document_describes_the_session_endpoints(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for action in ("login", "refresh", "logout"):
        assert set(paths[f"/api/session/{action}/"]) == {"post"}
