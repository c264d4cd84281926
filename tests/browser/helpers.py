"""What the browser tests share: waiting, the viewport, axe-core, and the page's own steps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

T = TypeVar("T")

DESKTOP = (1280, 800)
PHONE = (390, 844)


def until(condition: Callable[[], T | None], timeout: float = 10, what: str = "") -> T:
    """Polls ``condition`` until it returns something truthy; its value."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # a stale element between two polls: try again
            last_error = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}: {last_error!r}")


def viewport(driver: WebDriver, size: tuple[int, int]) -> None:
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def axe_violations(driver: WebDriver, source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    driver.execute_script(source)
    violations: list[dict[str, Any]] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then((r) => done(r.violations), (e) => done([{id: 'axe-error', impact: 'critical',"
        " help: String(e), nodes: []}]));"
    )
    return [v for v in violations if v.get("impact") in ("serious", "critical")]


def assert_accessible(driver: WebDriver, source: str, screen: str) -> None:
    bad = axe_violations(driver, source)
    described = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:3])
        for v in bad
    ]
    assert not bad, f"axe on {screen}: " + "; ".join(described)


def by_id(driver: WebDriver, element_id: str) -> WebElement:
    return driver.find_element(By.ID, element_id)


def visible(driver: WebDriver, element_id: str) -> WebElement | None:
    element = by_id(driver, element_id)
    return element if element.is_displayed() else None


def log_in(driver: WebDriver, username: str, password: str, *, sign_up: bool = False) -> None:
    until(lambda: visible(driver, "auth"), what="the log-in screen")
    name = by_id(driver, "auth-username")
    name.clear()
    name.send_keys(username)
    secret = by_id(driver, "auth-password")
    secret.clear()
    secret.send_keys(password)
    by_id(driver, "signup-button" if sign_up else "login-button").click()
    until(lambda: visible(driver, "app"), what="the alerts screen")
    until(lambda: by_id(driver, "f-trigger_condition"), what="the create form")


def fill_form(driver: WebDriver, fields: dict[str, str]) -> None:
    """Sets each field of the create form: the kind and frequency first, then text, then the
    choices that text shows (the webhook's format once there is a URL)."""
    for name, value in sorted(fields.items(), key=lambda kv: _ORDER.get(kv[0], 1)):
        element = by_id(driver, f"f-{name}")
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        elif element.get_attribute("type") == "datetime-local":  # typing it depends on locale
            driver.execute_script("arguments[0].value = arguments[1];", element, value)
        else:
            element.clear()
            if value:
                element.send_keys(value)


_ORDER = {"trigger_condition": 0, "frequency": 0, "window": 2, "webhook_format": 2}


def clear_form(driver: WebDriver) -> None:
    driver.execute_script(
        "const form = document.getElementById('create-form'); form.reset();"
        "form.dispatchEvent(new Event('change'));"
    )


def create_alert(driver: WebDriver, fields: dict[str, str]) -> int:
    """Creates an alert through the form; its id, once its row is in the table."""
    clear_form(driver)
    fill_form(driver, fields)
    driver.find_element(By.CSS_SELECTOR, "#create-form button[type=submit]").click()
    status = until(
        lambda: (
            (text := by_id(driver, "create-status").text).startswith(("Alert", "The alert"))
            and text
        ),
        what="the create answer",
    )
    assert status.startswith("Alert "), status + " " + field_errors(driver)
    alert_id = int(status.split()[1])
    until(lambda: row(driver, alert_id), what=f"alert {alert_id} in the table")
    return alert_id


def field_errors(driver: WebDriver) -> str:
    return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, "#create-form .error"))


def row(driver: WebDriver, alert_id: int) -> WebElement | None:
    rows = driver.find_elements(By.CSS_SELECTOR, f'#alerts tr[data-id="{alert_id}"]')
    return rows[0] if rows else None


def cells(driver: WebDriver, alert_id: int) -> list[str]:
    """The row's cells as text (textContent: the same on a phone, where labels are CSS)."""
    texts: list[str] = driver.execute_script(
        "const r = document.querySelector(`#alerts tr[data-id='${arguments[0]}']`);"
        "return r ? [...r.children].map((c) => c.textContent) : [];",
        alert_id,
    )
    return texts


def action(driver: WebDriver, alert_id: int, name: str) -> WebElement:
    return driver.find_element(
        By.CSS_SELECTOR, f'#alerts tr[data-id="{alert_id}"] button[data-action="{name}"]'
    )
