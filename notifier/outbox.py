"""A mailer for machines without an SMTP server (``pricealert up`` with no ``SMTP_HOST``): each
mail becomes an ``.eml`` file in an outbox folder, which any mail client opens."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from notifier.mail import Mail

log = logging.getLogger(__name__)


class OutboxMailer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def send(self, mail: Mail) -> None:
        """Write the mail whole (to a temporary name first, so a reader never sees half)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        alert_id = _alert_id(mail.raw)
        path = self.folder / f"{stamp}-alert-{alert_id}.eml"
        partial = path.with_suffix(".part")
        partial.write_bytes(mail.raw)
        os.replace(partial, path)
        log.info("mail written to the outbox", extra={"path": str(path), "to": mail.recipient})

    async def close(self) -> None:
        return None


def _alert_id(raw: bytes) -> str:
    marker = b"X-Pricealert-Alert-Id: "
    start = raw.find(marker)
    if start < 0:
        return "unknown"
    return raw[start + len(marker) : raw.find(b"\r\n", start)].decode()
