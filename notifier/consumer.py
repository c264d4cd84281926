"""The notifier: alert messages from RabbitMQ to the SMTP server, each acked only once its fate
is sealed (mail accepted, retry scheduled, or parked).

Each delivery runs in its own task (aio-pika starts one per message; the prefetch limit bounds
how many), and the SMTP pool bounds how many sends run at once. A transient failure goes to the
delay queue of its attempt (``shared.rabbit``) and comes back when its TTL expires: nothing
sleeps in the consumer and nothing is requeued in a loop. A message that can never be mailed
goes to the parking queue with the reason in its headers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from notifier.mail import Mail, MailRenderer, MalformedAlert
from notifier.metrics import OUTCOMES, NotifierMetrics
from notifier.sent_log import SentLog
from notifier.smtp import PermanentSendError, TransientSendError
from notifier.sources import Delivery, MessageSource
from shared.messages import AlertMessage
from shared.version import Version

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-pricealert-attempt"  # 1 for the first delivery, absent means 1
REASON_HEADER = "x-pricealert-reason"
SUMMARY_EVERY_SECONDS = 60.0


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None:
        """Returns once accepted; raises TransientSendError or PermanentSendError."""
        ...


class Notifier:
    def __init__(
        self,
        source: MessageSource,
        *,
        renderer: MailRenderer,
        mailer: Mailer,
        sent_log: SentLog,
        retry_delays: Sequence[float],
        metrics: NotifierMetrics | None = None,
    ) -> None:
        self._source = source
        self._renderer = renderer
        self._mailer = mailer
        self._sent_log = sent_log
        self._retry_delays = tuple(retry_delays)
        self.metrics = metrics or NotifierMetrics()
        self.ready = asyncio.Event()
        self.progress = Version()  # bumped after every message settled
        self._stopping = asyncio.Event()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def stop(self) -> None:
        """Stop taking messages; ``run`` returns once the ones in hand are settled."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until ``stop``; then settle the messages in hand and return."""
        try:
            await self._source.start(self._on_message)
            self.ready.set()
            summary = asyncio.create_task(self._log_summaries())
            try:
                await self._stopping.wait()
                log.info("notifier stopping: no new messages", extra={"in_flight": self._in_flight})
                await self._source.stop_consuming()
                await self._idle.wait()
            finally:
                summary.cancel()
        finally:
            await self._source.close()
        log.info("notifier stopped", extra=self._counts())

    async def _on_message(self, message: Delivery) -> None:
        if self._stopping.is_set():
            return  # not acked: RabbitMQ gives it to another consumer when we disconnect
        self._in_flight += 1
        self._idle.clear()
        self.metrics.in_flight.inc()
        try:
            outcome = await self._handle(message)
            await message.ack()
            self.metrics.count(outcome)
            self.progress.bump()
        except Exception as exc:
            # Acking or publishing failed (RabbitMQ went away): the broker redelivers it.
            log.warning(
                "message left for redelivery",
                extra={"message_id": message.message_id, "error": repr(exc)},
            )
        finally:
            self.metrics.in_flight.dec()
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _handle(self, message: Delivery) -> str:
        """Deal with one delivery; the outcome to count. Raises only when RabbitMQ fails us."""
        try:
            alert = AlertMessage.from_json(message.body)
            mail = self._renderer.render(alert)
        except (ValueError, MalformedAlert) as exc:
            await self._park(message, f"malformed: {exc}")
            return "parked_malformed"
        if await self._was_sent(alert.alert_id):
            log.info("duplicate message: already mailed", extra={"alert_id": alert.alert_id})
            return "duplicate"
        started = time.perf_counter()
        try:
            await self._mailer.send(mail)
        except PermanentSendError as exc:
            await self._park(message, f"permanent: {exc}")
            log.warning(
                "mail refused for good", extra={"alert_id": alert.alert_id, "error": str(exc)}
            )
            return "parked_permanent"
        except TransientSendError as exc:
            return await self._retry_or_park(message, alert.alert_id, str(exc))
        self.metrics.send_seconds.observe(time.perf_counter() - started)
        await self._record_sent(alert.alert_id)
        return "sent"

    async def _retry_or_park(self, message: Delivery, alert_id: int, error: str) -> str:
        attempt = _attempt(message)
        if attempt > len(self._retry_delays):
            await self._park(message, f"gave up after {attempt} tries: {error}")
            log.warning(
                "mail given up", extra={"alert_id": alert_id, "tries": attempt, "error": error}
            )
            return "parked_exhausted"
        await self._source.retry(
            message,
            self._retry_delays[attempt - 1],
            {ATTEMPT_HEADER: attempt + 1, REASON_HEADER: error},
        )
        log.info(
            "mail failed: will retry",
            extra={
                "alert_id": alert_id,
                "try": attempt,
                "retry_in_s": self._retry_delays[attempt - 1],
                "error": error,
            },
        )
        return "retried"

    async def _park(self, message: Delivery, reason: str) -> None:
        await self._source.park(
            message,
            {
                REASON_HEADER: reason[:1000],
                ATTEMPT_HEADER: _attempt(message),
                "x-pricealert-parked-at": datetime.now(UTC).isoformat(),
            },
        )

    async def _was_sent(self, alert_id: int) -> bool:
        try:
            return await self._sent_log.was_sent(alert_id)
        except Exception as exc:
            # Better a rare second mail than none: send, and say so.
            log.warning("duplicate check failed: sending anyway", extra={"error": repr(exc)})
            return False

    async def _record_sent(self, alert_id: int) -> None:
        try:
            await self._sent_log.record(alert_id)
        except Exception as exc:
            log.warning(
                "could not record a sent mail: a redelivery would mail again",
                extra={"alert_id": alert_id, "error": repr(exc)},
            )

    async def _log_summaries(self) -> None:
        while True:
            await asyncio.sleep(SUMMARY_EVERY_SECONDS)
            log.info("notifier summary", extra={**self._counts(), "in_flight": self._in_flight})

    def _counts(self) -> dict[str, int]:
        return {outcome: int(self.metrics.value(outcome)) for outcome in OUTCOMES}


def _attempt(message: Delivery) -> int:
    value = (message.headers or {}).get(ATTEMPT_HEADER, 1)
    return value if isinstance(value, int) and value >= 1 else 1
