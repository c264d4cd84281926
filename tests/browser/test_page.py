"""The web page in a real headless Chromium, through ``pricealert up`` on the fake Binance:
what a person does, screen by screen, each screen checked by axe-core, at a desktop and a phone
size; how much the first load weighs; how long a price update takes with 1,000 alerts."""

from __future__ import annotations

import re
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import Site
from tests.browser.helpers import (
    DESKTOP,
    PHONE,
    action,
    assert_accessible,
    by_id,
    cells,
    clear_form,
    create_alert,
    fill_form,
    log_in,
    row,
    until,
    viewport,
    visible,
)

PASSWORD = "correct horse battery"
SYMBOL, CONDITION, TARGET, PRICE, DISTANCE, STATE, FIRES, LAST_FIRED = range(8)
FIRST_LOAD_BUDGET = 150 * 1024
NEXT_MONTH = (datetime.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")


def fresh_user() -> str:
    return f"page_{uuid.uuid4().hex[:10]}"


def start(browser: WebDriver, site: Site, size: tuple[int, int] = DESKTOP) -> None:
    viewport(browser, size)
    # The session cookie's path is /api/session/: WebDriver's delete_all_cookies, which deletes
    # the cookies of the current URL, cannot see it.
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get(site.url + "/")
    until(lambda: visible(browser, "auth"), what="the log-in screen")


def test_a_logged_out_first_visit_logs_no_console_error(site: Site, browser: WebDriver) -> None:
    browser.get_log("browser")  # what earlier tests left in the log
    start(browser, site)
    until(
        lambda: browser.execute_script("return document.readyState;") == "complete",
        what="the load event",
    )
    asked: list[dict[str, Any]] = browser.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter((e) => e.name.endsWith('/api/session/refresh/'))"
        ".map((e) => ({name: e.name, status: e.responseStatus}));"
    )
    assert [entry["status"] for entry in asked] == [204], asked
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def test_a_person_signs_up_sets_every_kind_sees_a_fire_and_logs_out(
    site: Site, browser: WebDriver, axe_source: str, screenshots: Path
) -> None:
    start(browser, site, PHONE)
    assert_accessible(browser, axe_source, "log-in (phone)")
    browser.save_screenshot(str(screenshots / "login-390x844.png"))
    viewport(browser, DESKTOP)
    assert_accessible(browser, axe_source, "log-in (desktop)")
    browser.save_screenshot(str(screenshots / "login-1280x800.png"))
    username = fresh_user()
    log_in(browser, username, PASSWORD, sign_up=True)
    assert username in by_id(browser, "who").text
    assert_accessible(browser, axe_source, "alerts, empty")
    ids = {
        "above": create_alert(
            browser,
            {
                "symbol": "BTCUSDT",
                "trigger_condition": "above",
                "target_price": "50500",
                "email": "above@example.com",
            },
        ),
        "below": create_alert(
            browser,
            {
                "symbol": "ETHUSDT",
                "trigger_condition": "below",
                "target_price": "2500",
                "webhook_url": "https://example.com/hook",
                "webhook_format": "discord",
            },
        ),
        "crossing": create_alert(
            browser,
            {
                "symbol": "BNBUSDT",
                "trigger_condition": "crossing",
                "target_price": "700",
                "frequency": "repeat",
                "cooldown_seconds": "60",
                "email": "cross@example.com",
            },
        ),
        "up_pct": create_alert(
            browser,
            {
                "symbol": "BTCUSDT",
                "trigger_condition": "up_pct",
                "percent": "20",
                "window": "1h",
                "expires_at": NEXT_MONTH,
                "email": "up@example.com",
            },
        ),
        "down_pct": create_alert(
            browser,
            {
                "symbol": "ETHUSDT",
                "trigger_condition": "down_pct",
                "percent": "2.5",
                "window": "15m",
                "email": "down@example.com",
            },
        ),
    }
    assert cells(browser, ids["above"])[CONDITION] == "at or above 50,500"
    assert cells(browser, ids["crossing"])[CONDITION].startswith("crosses 700")
    assert cells(browser, ids["up_pct"])[CONDITION] == "rises 20% within 1 hour"
    assert cells(browser, ids["down_pct"])[TARGET] == "2.5%"
    expires = browser.execute_script(
        "return window.pricealert.table.alert(arguments[0]).expires_at;", ids["up_pct"]
    )
    # The local date and time typed in the form, sent as UTC (browser and test share a zone).
    typed = datetime.strptime(NEXT_MONTH, "%Y-%m-%dT%H:%M").astimezone(UTC)
    assert datetime.fromisoformat(expires.replace("Z", "+00:00")) == typed
    assert {cells(browser, i)[STATE] for i in ids.values()} == {"created"}

    # The price of a symbol the matcher follows, in the form, and how far a typed target is.
    clear_form(browser)
    fill_form(browser, {"symbol": "BTCUSDT", "target_price": "55000"})
    quote = until(
        lambda: "away" in (t := by_id(browser, "f-symbol-quote").text) and t, what="a quote"
    )
    assert re.fullmatch(
        r"BTCUSDT last traded at [45]\d,\d{3}(\.\d+)?; the target is \+\d+\.\d+% away\.", quote
    ), quote
    # A symbol no alert names has no price: the form says why rather than staying blank.
    clear_form(browser)
    fill_form(browser, {"symbol": "SOLUSDT"})
    until(
        lambda: (
            by_id(browser, "f-symbol-quote").text
            == "No trade of SOLUSDT seen yet: pricealert follows a symbol once an alert names it."
        ),
        what="the quote of a symbol nobody follows",
    )

    # A reload keeps the session: the page refreshes its access token through the cookie.
    browser.refresh()
    until(lambda: visible(browser, "app"), what="still logged in after a reload")
    until(lambda: row(browser, ids["above"]), what="the alerts after a reload")
    assert browser.execute_script("return localStorage.length + sessionStorage.length;") == 0
    assert "pricealert_refresh" not in browser.execute_script("return document.cookie;")

    # The live price moves, and the distance to the target follows it.
    first = until(lambda: (p := cells(browser, ids["above"])[PRICE]) != "—" and p, what="a price")
    until(lambda: cells(browser, ids["above"])[PRICE] != first, what="the price to move")
    assert cells(browser, ids["above"])[DISTANCE].startswith("+")
    assert_accessible(browser, axe_source, "alerts with five alerts")
    browser.execute_script("window.scrollTo(0, 0);")
    browser.save_screenshot(str(screenshots / "alerts-1280x800.png"))

    # A fire shows without a reload.
    browser.execute_script("window.notReloaded = true;")
    site.walk["BTCUSDT"] = Decimal("51000")
    moved = time.monotonic()
    until(lambda: cells(browser, ids["above"])[STATE] == "triggered", timeout=10, what="the fire")
    shown_after = time.monotonic() - moved
    print(f"\nbrowser: a fire showed on the page {shown_after:.2f} s after the trade")
    assert shown_after < 2.0
    assert browser.execute_script("return window.notReloaded === true;")
    assert cells(browser, ids["above"])[FIRES] == "1"
    assert re.search(r" at 5[01],\d{3}", cells(browser, ids["above"])[LAST_FIRED])
    assert "Fired: BTCUSDT" in by_id(browser, "alerts-status").text

    # Its history: the fire, its delivery, and the chart with the target.
    action(browser, ids["above"], "history").click()
    until(lambda: visible(browser, "detail"), what="the history")
    until(
        lambda: browser.find_elements(By.CSS_SELECTOR, "#events tbody tr"), what="the fire listed"
    )
    fire = browser.find_element(By.CSS_SELECTOR, "#events tbody tr").text
    assert "email:" in fire
    until(lambda: browser.find_elements(By.CSS_SELECTOR, "#chart canvas"), what="the chart")
    assert "Target 50,500" in by_id(browser, "chart-caption").text
    assert_accessible(browser, axe_source, "history")
    browser.save_screenshot(str(screenshots / "history-1280x800.png"))
    by_id(browser, "detail-close").send_keys(Keys.ENTER)
    until(lambda: not visible(browser, "detail"), what="the history to close")

    # Pause, resume and delete with the keyboard.
    crossing = ids["crossing"]
    action(browser, crossing, "pause").send_keys(Keys.ENTER)
    until(lambda: cells(browser, crossing)[STATE] == "paused", what="paused")
    action(browser, crossing, "resume").send_keys(Keys.ENTER)
    until(lambda: cells(browser, crossing)[STATE] == "created", what="resumed")
    action(browser, crossing, "delete").send_keys(Keys.ENTER)
    until(lambda: action(browser, crossing, "delete").text == "Confirm delete", what="confirm")
    action(browser, crossing, "delete").send_keys(Keys.ENTER)
    until(lambda: row(browser, crossing) is None, what="the row to go")

    # A phone.
    viewport(browser, PHONE)
    until(
        lambda: browser.execute_script("return window.innerWidth;") == PHONE[0],
        what="the phone's width",
    )
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth;"
    ), "the page scrolls sideways at 390 px"
    assert_accessible(browser, axe_source, "alerts (phone)")
    browser.execute_script("window.scrollTo(0, 0);")
    browser.save_screenshot(str(screenshots / "alerts-390x844.png"))
    viewport(browser, DESKTOP)

    # Log out and back in: the alerts are still there.
    by_id(browser, "logout").click()
    until(lambda: visible(browser, "auth"), what="logged out")
    assert "logged out" in by_id(browser, "auth-status").text
    browser.refresh()
    until(lambda: visible(browser, "auth"), what="still logged out after a reload")
    # Back in with the keyboard alone: the name, Tab, the password, Enter.
    by_id(browser, "auth-username").send_keys(username, Keys.TAB)
    assert browser.switch_to.active_element == by_id(browser, "auth-password")
    browser.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER)
    until(lambda: visible(browser, "app"), what="logged in again")
    until(lambda: row(browser, ids["down_pct"]), what="the alerts again")
    assert row(browser, crossing) is None
    site.walk["BTCUSDT"] = Decimal("50000")
    # Nothing the CSP refused, no script error: only the API's own 4xx answers were logged.
    problems = [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]
    ]
    assert problems == []


def test_the_apis_validation_message_shows_beside_its_field(
    site: Site, browser: WebDriver, axe_source: str, screenshots: Path
) -> None:
    start(browser, site)
    log_in(browser, fresh_user(), PASSWORD, sign_up=True)
    fill_form(browser, {"trigger_condition": "above", "target_price": "05", "email": "a@b.io"})
    browser.find_element(By.CSS_SELECTOR, "#create-form button[type=submit]").click()
    error = until(lambda: by_id(browser, "f-target_price-error").text, what="the error")
    assert error.startswith("target_price")
    field = by_id(browser, "f-target_price")
    assert field.get_attribute("aria-invalid") == "true"
    assert browser.switch_to.active_element == field
    assert_accessible(browser, axe_source, "a validation error")
    browser.save_screenshot(str(screenshots / "validation-1280x800.png"))

    # A channel this server has not got: the API says so, beside that channel.
    fill_form(browser, {"target_price": "50000", "email": "", "telegram_chat_id": "@pricealerts"})
    browser.find_element(By.CSS_SELECTOR, "#create-form button[type=submit]").click()
    error = until(lambda: by_id(browser, "f-telegram_chat_id-error").text, what="the error")
    assert "no Telegram bot" in error
    assert by_id(browser, "f-target_price-error").text == ""


def test_markup_in_what_a_user_typed_shows_as_text(site: Site, browser: WebDriver) -> None:
    start(browser, site)
    log_in(browser, fresh_user(), PASSWORD, sign_up=True)
    nasty = "<img src=x onerror=alert(1)>@x.io"
    fill_form(browser, {"trigger_condition": "above", "target_price": "1", "email": nasty})
    browser.find_element(By.CSS_SELECTOR, "#create-form button[type=submit]").click()
    error = until(lambda: by_id(browser, "f-email-error").text, what="the error")
    assert nasty in error
    assert not browser.find_elements(By.CSS_SELECTOR, "#main img")
    # An address the API takes, with the characters HTML cares about, shown as written.
    odd = "o'neil&{co}@example.com"
    alert_id = create_alert(
        browser, {"trigger_condition": "above", "target_price": "90000", "email": odd}
    )
    action(browser, alert_id, "history").click()
    until(lambda: odd in by_id(browser, "detail-summary").text, what="the address as text")


def test_an_alert_whose_symbol_stops_trading_says_so_in_its_row(
    site: Site, browser: WebDriver
) -> None:
    start(browser, site)
    log_in(browser, fresh_user(), PASSWORD, sign_up=True)
    fields = {"symbol": "BNBUSDT", "trigger_condition": "above", "target_price": "90000"}
    alert_id = create_alert(browser, fields | {"email": "halt@example.com"})
    site.fake.listed.discard("BNBUSDT")  # read by the fake's loop at its next exchangeInfo
    try:
        state = until(
            lambda: "not trading" in (text := cells(browser, alert_id)[STATE]) and text,
            timeout=30,
            what="the halted symbol in the row",
        )
        assert state == "created: BNBUSDT is not trading"
    finally:
        site.fake.listed.add("BNBUSDT")
    until(
        lambda: cells(browser, alert_id)[STATE] == "created",
        timeout=30,
        what="the symbol trading again",
    )


def resources(browser: WebDriver) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = browser.execute_script(
        "return [...performance.getEntriesByType('navigation'),"
        " ...performance.getEntriesByType('resource')]"
        ".map((e) => ({name: e.name, size: e.decodedBodySize, transfer: e.transferSize}));"
    )
    return entries


def test_the_first_load_is_light_and_from_this_origin_only(site: Site, browser: WebDriver) -> None:
    start(browser, site)
    browser.execute_cdp_cmd("Network.clearBrowserCache", {})
    browser.get(site.url + "/")  # a cold load
    until(lambda: visible(browser, "auth"), what="the log-in screen")
    until(
        lambda: browser.execute_script("return document.readyState;") == "complete",
        what="the load event (every module and file of the page fetched)",
    )
    entries = resources(browser)
    logged_out = sum(e["size"] for e in entries)
    log_in(browser, fresh_user(), PASSWORD, sign_up=True)
    until(
        lambda: (
            {"/openapi.json", "/api/alerts/"}
            <= {e["name"].removeprefix(site.url).split("?")[0] for e in resources(browser)}
            and browser.find_elements(By.ID, "f-trigger_condition")
        ),
        what="the alerts screen with its form built from /openapi.json",
    )
    entries = resources(browser)
    logged_in = sum(e["size"] for e in entries if not e["name"].startswith(site.url + "/api/"))
    files = sorted({e["name"].removeprefix(site.url) for e in entries})
    print(
        f"\nbrowser: first load of / {logged_out:,} bytes (uncompressed) logged out; "
        f"{logged_in:,} bytes with the alerts screen and /openapi.json, API answers aside; "
        f"requests: {', '.join(files)}"
    )
    assert all(e["name"].startswith(site.url) for e in entries), files
    assert logged_out <= FIRST_LOAD_BUDGET
    assert logged_in <= FIRST_LOAD_BUDGET


def test_a_thousand_alerts_and_the_time_of_a_price_update(site: Site, browser: WebDriver) -> None:
    username = fresh_user()
    with httpx.Client(base_url=site.url, timeout=30) as client:
        credentials = {"username": username, "password": PASSWORD}
        assert client.post("/api/signup/", json=credentials).status_code == 201
        symbols = ["BTCUSDT", "ETHUSDT", "BNBUSDT"]
        for i in range(1000):
            symbol = symbols[i % 3]
            target = str(site.walk[symbol] * 3 + i)
            body = {
                "symbol": symbol,
                "trigger_condition": "above",
                "target_price": target,
                "email": f"n{i}@example.com",
            }
            response = client.post("/api/alerts/create/", json=body)
            if response.status_code == 401:  # the tests' access tokens live 5 seconds
                access = client.post("/api/login/", json=credentials).json()["access"]
                client.headers["Authorization"] = f"Bearer {access}"
                response = client.post("/api/alerts/create/", json=body)
            assert response.status_code == 201, response.text
    start(browser, site)
    log_in(browser, username, PASSWORD)
    until(
        lambda: browser.execute_script("return window.pricealert.table.size;") == 1000,
        timeout=30,
        what="1,000 rows",
    )
    browser.execute_script("performance.clearMeasures();")
    measured = (
        "return ['price-update', 'alerts-update'].map((name) =>"
        " performance.getEntriesByName(name, 'measure').map((m) => m.duration));"
    )
    # Eight polls' worth: the page updates once a second.
    measures: list[list[float]] = until(
        lambda: (
            (found := browser.execute_script(measured))
            and len(found[0]) >= 8
            and len(found[1]) >= 8
            and found
        ),
        timeout=30,
        what="eight price and alert-list updates",
    )
    prices, polls = measures
    assert prices, "no price update measured"
    print(
        f"\nbrowser: 1,000 alerts, {len(prices)} price updates: median "
        f"{statistics.median(prices):.2f} ms, max {max(prices):.2f} ms; "
        f"{len(polls)} alert-list updates: median {statistics.median(polls):.2f} ms, "
        f"max {max(polls):.2f} ms"
    )

    # What the open tab reads while nothing changes: ten polls of the changes feed and the
    # prices, every byte the network carried for them (headers and bodies).
    browser.execute_script(
        "performance.setResourceTimingBufferSize(10000); performance.clearResourceTimings();"
        "window.readFrom = performance.now();"
    )
    read: dict[str, Any] = until(
        lambda: (
            (found := browser.execute_script(_READ_SINCE))
            and found["changes"] >= POLLS_MEASURED
            and found
        ),
        timeout=30,
        what=f"{POLLS_MEASURED} polls of the changes feed",
    )
    rate = read["bytes"] / read["seconds"]
    print(
        f"browser: 1,000 alerts, nothing changing: {rate:,.0f} bytes/s read over "
        f"{read['seconds']:.1f} s ({read['requests']} requests, {read['changes']} of them "
        f"changes polls, {read['full']} full lists)"
    )
    assert read["full"] == 0
    assert rate < READ_BUDGET


POLLS_MEASURED = 10
READ_BUDGET = 5_000  # bytes a second, with 1,000 alerts and nothing changing
# Every request since window.readFrom: its bytes on the wire (transferSize: headers and body).
_READ_SINCE = """
const entries = performance.getEntriesByType('resource')
  .filter((e) => e.startTime >= window.readFrom);
const path = (e) => new URL(e.name).pathname;
const alerts = entries.filter((e) => path(e) === '/api/alerts/');
return {
  bytes: entries.reduce((sum, e) => sum + e.transferSize, 0),
  seconds: (performance.now() - window.readFrom) / 1000,
  requests: entries.length,
  changes: alerts.filter((e) => e.name.includes('changed_since=')).length,
  full: alerts.filter((e) => !e.name.includes('changed_since=')).length,
};
"""


def test_a_stale_price_is_marked_with_its_time(
    site: Site, browser: WebDriver, database_url: str
) -> None:
    """XRPUSDT is listed by the fake Binance but never trades: its price, written 10 minutes
    old, is marked "as of" its time in the table and in the form's quote; BTCUSDT's, a second
    old, is not."""
    start(browser, site)
    log_in(browser, fresh_user(), PASSWORD, sign_up=True)
    quiet = create_alert(
        browser,
        {"symbol": "XRPUSDT", "trigger_condition": "above", "target_price": "9", "email": "x@y.io"},
    )
    busy = create_alert(
        browser,
        {
            "symbol": "BTCUSDT",
            "trigger_condition": "above",
            "target_price": "90000",
            "email": "x@y.io",
        },
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO prices (symbol, price, at) VALUES ('XRPUSDT', 2.5, now() - interval"
            " '10 minutes') ON CONFLICT (symbol) DO UPDATE SET price = 2.5, at = EXCLUDED.at"
        )
    price = until(
        lambda: "as of" in (text := cells(browser, quiet)[PRICE]) and text, what="the mark"
    )
    assert re.fullmatch(r"2\.5 as of \D*\d{1,2}:\d{2}\D*", price), price
    until(lambda: cells(browser, busy)[PRICE] != "—", what="BTCUSDT's price")
    assert "as of" not in cells(browser, busy)[PRICE]
    print(f"\nbrowser: a 10-minute-old price reads {price!r}")
    clear_form(browser)
    fill_form(browser, {"symbol": "XRPUSDT"})
    until(
        lambda: "last traded at 2.5 (as of" in by_id(browser, "f-symbol-quote").text,
        what="the stale quote",
    )


def test_the_api_reference_renders_from_openapi_json(
    site: Site, browser: WebDriver, axe_source: str, screenshots: Path
) -> None:
    viewport(browser, DESKTOP)
    browser.get(site.url + "/docs")
    until(lambda: browser.find_elements(By.CSS_SELECTOR, "#docs-body .op"), what="operations")
    document = httpx.get(site.url + "/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert len(browser.find_elements(By.CSS_SELECTOR, "#docs-body .op")) == operations
    assert "trigger_condition" in by_id(browser, "docs-body").text
    assert all(e["name"].startswith(site.url) for e in resources(browser))
    assert_accessible(browser, axe_source, "/docs")
    browser.save_screenshot(str(screenshots / "docs-1280x800.png"))
