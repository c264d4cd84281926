"""The page's form in a real Chromium offers what the vocabulary declares, read from
/openapi.json: every kind with its title, the fields each kind uses and no other, every channel
in the channels group."""

from __future__ import annotations

import uuid

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.select import Select

from shared.fields import KIND_FIELDS
from shared.vocabulary import CHANNELS, KINDS, WINDOWS
from tests.browser.conftest import Site
from tests.browser.helpers import DESKTOP, by_id, log_in, until, viewport, visible


def _shown(browser: WebDriver, name: str) -> bool:
    return by_id(browser, f"f-{name}").is_displayed()


def test_the_form_offers_every_declared_kind_with_its_fields_and_every_channel(
    site: Site, browser: WebDriver
) -> None:
    viewport(browser, DESKTOP)
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get(site.url + "/")
    until(lambda: visible(browser, "auth"), what="the log-in screen")
    log_in(browser, f"words_{uuid.uuid4().hex[:10]}", "correct horse battery", sign_up=True)
    until(lambda: visible(browser, "f-trigger_condition"), what="the create form")
    kinds = Select(by_id(browser, "f-trigger_condition"))
    offered = [(option.get_attribute("value"), option.text) for option in kinds.options]
    assert offered == [(kind.name, kind.title) for kind in KINDS.values()]
    for kind in KINDS.values():
        kinds.select_by_value(kind.name)
        for field in KIND_FIELDS:
            assert _shown(browser, field) == (field in kind.fields), (kind.name, field)
    windows = Select(by_id(browser, "f-window"))
    assert [option.text for option in windows.options if option.get_attribute("value")] == [
        window.words for window in WINDOWS.values()
    ]
    first_channel = next(iter(next(iter(CHANNELS.values())).fields))
    group = by_id(browser, f"f-{first_channel}").find_element(By.XPATH, "ancestor::fieldset")
    in_group = {
        element.get_attribute("name")
        for element in group.find_elements(By.CSS_SELECTOR, "input, select")
    }
    assert in_group == {field for channel in CHANNELS.values() for field in channel.fields}
