"""The email for a fired alert: subject, text and HTML parts, rendered from template files.

The templates are ``subject.txt``, ``body.txt`` and ``body.html`` in ``notifier/templates`` (or
in the folder ``NOTIFIER_TEMPLATES`` names), in ``string.Template`` syntax with these fields
(``notifier.wording`` writes them for every kind): ``$headline`` ("ETHUSDT rose 5.2% within
1 hour, to 2,630.10"), ``$alert_condition`` ("at or above 50,000.00", "a rise of 5% within
1 hour"), ``$next_fire`` (whether and when it can fire again), ``$symbol``, ``$condition``
(the kind's name, as ``trigger_condition`` says it), ``$comparison`` ("at or above", "across"),
``$target`` (empty for a kind without a target price), ``$price`` (grouped, at least two
decimals), ``$triggered_at`` (UTC), ``$alert_id`` and ``$seq`` (the fire's number). Values are
HTML-escaped in the HTML part.

The MIME text is written directly rather than through ``email.message.EmailMessage``, which
costs about ten times as much per mail; its shape is checked by parsing it back with the
standard library in the tests.
"""

from __future__ import annotations

import base64
import html
import secrets
from dataclasses import dataclass
from email.header import Header
from email.utils import formatdate
from importlib import resources
from pathlib import Path
from string import Template

from notifier.wording import MalformedAlert, describe
from shared.errors import SettingsError
from shared.messages import AlertMessage

_TEMPLATE_FILES = ("subject.txt", "body.txt", "body.html")
_MAX_LINE = 998  # RFC 5322: longer lines need an encoding


@dataclass(frozen=True, slots=True)
class Mail:
    sender: str
    recipient: str
    raw: bytes  # the whole message, CRLF line endings


class MailRenderer:
    def __init__(self, sender: str, template_dir: str | None = None) -> None:
        _check_header_value("SMTP_FROM", sender)
        self._sender = sender
        self._domain = sender.rpartition("@")[2] or "pricealert.local"
        texts = _read_templates(template_dir)
        self._subject = Template(texts["subject.txt"].strip())
        self._text = Template(texts["body.txt"])
        self._html = Template(texts["body.html"])

    def render(self, message: AlertMessage) -> Mail:
        recipient = message.channels.get("email", message.email)
        if not isinstance(recipient, str) or "@" not in recipient:
            raise MalformedAlert(f"not an email address: {recipient!r}")
        _check_header_value("email", recipient)
        fields = _fields(message)
        subject = self._subject.safe_substitute(fields)
        _check_header_value("subject", subject)
        text = self._text.safe_substitute(fields)
        html_body = self._html.safe_substitute({k: html.escape(v) for k, v in fields.items()})
        boundary = f"=_pricealert_{secrets.token_hex(12)}"
        parts = [
            f"From: {self._sender}",
            f"To: {recipient}",
            f"Subject: {_encode_header(subject)}",
            f"Date: {formatdate(usegmt=True)}",
            # One id per fire: a mail sent twice is recognisable as the same mail downstream.
            f"Message-ID: <alert-{message.alert_id}-{message.seq}@{self._domain}>",
            f"X-Pricealert-Alert-Id: {message.alert_id}",
            f"X-Pricealert-Fire: {message.alert_id}:{message.seq}",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
            "",
            f"--{boundary}",
            *_part("text/plain", text),
            f"--{boundary}",
            *_part("text/html", html_body),
            f"--{boundary}--",
            "",
        ]
        return Mail(self._sender, recipient, "\r\n".join(parts).encode())


def _fields(message: AlertMessage) -> dict[str, str]:
    words = describe(message)
    return {
        "headline": words.headline,
        "alert_condition": words.condition,
        "next_fire": words.next_fire,
        "symbol": message.symbol,
        "condition": message.trigger_condition,
        "comparison": words.comparison,
        "target": words.target,
        "price": words.price,
        "triggered_at": words.triggered_at,
        "alert_id": str(message.alert_id),
        "seq": str(message.seq),
    }


def _part(content_type: str, body: str) -> list[str]:
    lines = body.replace("\r\n", "\n").split("\n")
    if body.isascii() and all(len(line) <= _MAX_LINE for line in lines):
        encoding, encoded = "7bit", lines
    else:
        data = base64.encodebytes(body.encode()).decode()
        encoding, encoded = "base64", data.rstrip("\n").split("\n")
    return [
        f'Content-Type: {content_type}; charset="utf-8"',
        f"Content-Transfer-Encoding: {encoding}",
        "",
        *encoded,
    ]


def _encode_header(value: str) -> str:
    if value.isascii():
        return value
    return Header(value, "utf-8").encode()


def _check_header_value(what: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise MalformedAlert(f"{what} holds a line break: {value[:60]!r}")


def _read_templates(template_dir: str | None) -> dict[str, str]:
    if template_dir is None:
        package = resources.files("notifier") / "templates"
        return {name: (package / name).read_text(encoding="utf-8") for name in _TEMPLATE_FILES}
    folder = Path(template_dir)
    missing = [name for name in _TEMPLATE_FILES if not (folder / name).is_file()]
    if missing:
        raise SettingsError(
            f"NOTIFIER_TEMPLATES folder {template_dir!r} lacks {', '.join(missing)}"
        )
    return {name: (folder / name).read_text(encoding="utf-8") for name in _TEMPLATE_FILES}
