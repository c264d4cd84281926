"""The mail for a fired alert, read back with the standard library's parser."""

from __future__ import annotations

from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from notifier.mail import MailRenderer
from notifier.wording import MalformedAlert, format_price
from shared.errors import SettingsError
from tests.notifier.helpers import alert


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_the_mail_says_what_crossed_what_at_what_price_and_when() -> None:
    mail = MailRenderer("alerts@pricealert.test").render(alert(42))
    message = parsed(mail.raw)
    assert (mail.sender, mail.recipient) == ("alerts@pricealert.test", "ann@example.com")
    assert message["From"] == "alerts@pricealert.test"
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "BTCUSDT is above 50,000.00: your alert fired"
    assert message["Message-ID"] == "<alert-42-1@pricealert.test>"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    for body in (text.get_content(), html.get_content()):
        assert "BTCUSDT" in body
        assert "50,012.50" in body
        assert "at or above" in body
        assert "2026-11-25 12:34:56 UTC" in body
        assert "will not fire again" in body
    assert b"\r\n" in mail.raw
    assert b"\n" not in mail.raw.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    ("price", "shown"),
    [
        ("50000", "50,000.00"),
        ("50000.5", "50,000.50"),
        ("0.00000123", "0.00000123"),
        ("1234567.12345678", "1,234,567.12345678"),
    ],
)
def test_prices_are_grouped_with_at_least_two_decimals(price: str, shown: str) -> None:
    assert format_price(Decimal(price)) == shown


def test_values_are_escaped_in_the_html_part() -> None:
    mail = MailRenderer("a@pricealert.test").render(alert(1, symbol="<b>X</b>"))
    html = parsed(mail.raw).get_body(("html",))
    assert html is not None
    assert "&lt;b&gt;X&lt;/b&gt;" in html.get_content()
    assert "<b>X</b>" not in html.get_content()


@pytest.mark.parametrize(
    "fields",
    [
        {"target_price": "lots"},
        {"triggered_price": "NaN"},
        {"triggered_at": "yesterday"},
        {"trigger_condition": "sideways"},
        {"trigger_condition": "up_pct", "target_price": None},  # no percent, no window
        {"trigger_condition": "crossing", "target_price": None},
        {"email": "no-at-sign"},
        {"email": "a@example.com\r\nBcc: everyone@example.com"},
    ],
)
def test_an_alert_that_cannot_become_a_mail_is_malformed(fields: dict[str, str]) -> None:
    with pytest.raises(MalformedAlert):
        MailRenderer("a@pricealert.test").render(alert(1, **fields))


def test_templates_can_be_replaced_and_may_hold_any_language(tmp_path: Path) -> None:
    (tmp_path / "subject.txt").write_text("$symbol a franchi $target ✓\n", encoding="utf-8")
    (tmp_path / "body.txt").write_text("Prix : $price — alerte n°$alert_id\n", encoding="utf-8")
    (tmp_path / "body.html").write_text("<p>Prix : $price</p>\n", encoding="utf-8")
    mail = MailRenderer("a@pricealert.test", str(tmp_path)).render(alert(3))
    message = parsed(mail.raw)
    assert message["Subject"] == "BTCUSDT a franchi 50,000.00 ✓"
    text = message.get_body(("plain",))
    assert text is not None
    assert text.get_content().strip() == "Prix : 50,012.50 — alerte n°3"
    assert mail.raw.isascii()  # encoded for any server


def test_a_template_folder_missing_a_file_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "subject.txt").write_text("$symbol\n")
    with pytest.raises(SettingsError, match=r"NOTIFIER_TEMPLATES.*body\.txt, body\.html"):
        MailRenderer("a@pricealert.test", str(tmp_path))


def _subject_and_text(**fields: object) -> tuple[str, str]:
    message = parsed(MailRenderer("a@pricealert.test").render(alert(7, **fields)).raw)
    text = message.get_body(("plain",))
    assert text is not None
    return str(message["Subject"]), text.get_content()


@pytest.mark.parametrize(
    ("fields", "headline"),
    [
        ({"trigger_condition": "below", "triggered_price": "49999"}, "BTCUSDT is below 50,000.00"),
        (
            {"trigger_condition": "crossing", "reference_price": "49000", "seq": 1},
            "BTCUSDT crossed 50,000.00 upwards, to 50,012.50",
        ),
        (  # a repeating crossing alternates: its second fire goes the other way
            {"trigger_condition": "crossing", "reference_price": "49000", "seq": 2},
            "BTCUSDT crossed 50,000.00 downwards, to 50,012.50",
        ),
        (
            {
                "symbol": "ETHUSDT",
                "trigger_condition": "up_pct",
                "target_price": None,
                "percent": "5",
                "window": "1h",
                "base_price": "2500",
                "triggered_price": "2630.10",
            },
            "ETHUSDT rose 5.2% within 1 hour, to 2,630.10",
        ),
        (
            {
                "symbol": "ETHUSDT",
                "trigger_condition": "down_pct",
                "target_price": None,
                "percent": "10",
                "window": "1d",
                "base_price": "3000",
                "triggered_price": "2690",
            },
            "ETHUSDT fell 10.3% within 1 day, to 2,690.00",
        ),
    ],
)
def test_the_subject_says_what_happened_for_each_kind(
    fields: dict[str, object], headline: str
) -> None:
    subject, text = _subject_and_text(**fields)
    assert subject == f"{headline}: your alert fired"
    assert f"{headline}." in text


def test_a_repeating_alert_says_when_it_can_fire_again() -> None:
    _, text = _subject_and_text(frequency="repeat", cooldown_seconds=3600, seq=3)
    assert "fire 3" in text
    assert "It can fire again from 2026-11-25 13:34:56 UTC (its cooldown is 1 hour)" in text
    assert "once the price has gone back below 50,000.00" in text
