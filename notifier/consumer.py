"""The notifier: alert messages from RabbitMQ to the SMTP server, each acked only once its fate
is sealed (mail accepted, retry scheduled, or parked).

Each delivery is handled in a task of the notifier's own (the prefetch limit bounds how many),
and the SMTP pool bounds how many sends run at once. A transient failure goes to the delay
queue of its attempt (``shared.rabbit``) and comes back when its TTL expires: nothing sleeps in
the consumer and nothing is requeued in a loop. A message that can never be mailed goes to the
parking queue with the reason in its headers.

No second mail when a server restarts:

- When the channel closes (a broker restart, a cut connection), aiormq cancels the callback
  tasks of every unacked delivery. The handling is not that task: it is shielded from it, so a
  mail the server accepted is always recorded; only its ack fails, and the redelivery finds
  the record. A delivery whose channel is already gone before its mail is sent is left alone:
  the redelivery sends it.
- A redelivery that arrives while this process still handles the first delivery of the same
  alert waits for it, then finds the record.
- While PostgreSQL is away, the duplicate check and the record are retried, the message held
  unacked, rather than sending without a check or acking without a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Protocol

from notifier.deliveries import DeliveryLog, Fire, Outcome, Status
from notifier.mail import Mail, MailRenderer
from notifier.metrics import OUTCOMES, NotifierMetrics
from notifier.smtp import PermanentSendError, TransientSendError
from notifier.sources import Delivery, MessageSource
from notifier.wording import MalformedAlert
from shared.backoff import full_jitter
from shared.messages import AlertMessage
from shared.version import Version

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-pricealert-attempt"  # 1 for the first delivery, absent means 1
REASON_HEADER = "x-pricealert-reason"
SUMMARY_EVERY_SECONDS = 60.0
CHANNEL = "email"
DATABASE_RETRY_BASE_SECONDS = 0.1
DATABASE_RETRY_CAP_SECONDS = 1.0
# After stop, how long a sent mail's record may still be retried before the process gives up
# on it (and a redelivery of that message would mail again).
RECORD_GRACE_SECONDS = 10.0


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
        deliveries: DeliveryLog,
        retry_delays: Sequence[float],
        metrics: NotifierMetrics | None = None,
    ) -> None:
        self._source = source
        self._renderer = renderer
        self._mailer = mailer
        self._deliveries = deliveries
        self._retry_delays = tuple(retry_delays)
        self.metrics = metrics or NotifierMetrics()
        self.ready = asyncio.Event()
        self.progress = Version()  # bumped after every message settled
        self._stopping = asyncio.Event()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._work: set[asyncio.Task[None]] = set()  # deliveries being handled
        self._in_hand: dict[Fire, asyncio.Future[None]] = {}  # a fire -> its handling's end

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
        work = asyncio.create_task(self._settle(message))
        self._work.add(work)
        work.add_done_callback(self._work.discard)
        # A closing channel cancels this callback; the shield keeps the handling going.
        await asyncio.shield(work)

    async def _settle(self, message: Delivery) -> None:
        self._in_flight += 1
        self._idle.clear()
        self.metrics.in_flight.inc()
        try:
            outcome = await self._handle(message)
            if outcome is not None:
                self.metrics.count(outcome)
                await self._ack(message)
            self.progress.bump()
        except Exception as exc:
            # Publishing a retry or parking failed (RabbitMQ went away): the broker redelivers.
            log.warning(
                "message left for redelivery",
                extra={"message_id": message.message_id, "error": repr(exc)},
            )
        finally:
            self.metrics.in_flight.dec()
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _ack(self, message: Delivery) -> None:
        try:
            await message.ack()
        except Exception as exc:
            # The channel closed after the outcome was sealed: the redelivery is recognised.
            log.info(
                "ack lost with the channel: the redelivery will be recognised",
                extra={"message_id": message.message_id, "error": repr(exc)},
            )

    async def _handle(self, message: Delivery) -> str | None:
        """Deal with one delivery; the outcome to count, or None when it is left for a
        redelivery. Raises only when RabbitMQ fails us."""
        try:
            alert = AlertMessage.from_json(message.body)
            mail = self._renderer.render(alert)
        except (ValueError, MalformedAlert) as exc:
            await self._park(message, f"malformed: {exc}")
            return "parked_malformed"
        fire = alert.fire
        async with self._only_delivery_of(fire):
            sent = await self._was_sent(fire)
            if sent is None:
                return None
            if sent:
                log.info("duplicate message: already mailed", extra={"fire": alert.message_id})
                return "duplicate"
            if not self._source.still_held(message):
                return None  # its channel closed: the redelivery will send it
            started = time.perf_counter()
            try:
                await self._mailer.send(mail)
            except PermanentSendError as exc:
                await self._park(message, f"permanent: {exc}")
                await self._note(fire, "parked", _attempt(message), f"refused: {exc}")
                log.warning(
                    "mail refused for good", extra={"fire": alert.message_id, "error": str(exc)}
                )
                return "parked_permanent"
            except TransientSendError as exc:
                return await self._retry_or_park(message, fire, str(exc))
            self.metrics.send_seconds.observe(time.perf_counter() - started)
            await self._record_sent(fire, _attempt(message))
            return "sent"

    @contextlib.asynccontextmanager
    async def _only_delivery_of(self, fire: Fire) -> AsyncIterator[None]:
        """One delivery of a fire at a time in this process: a redelivery that arrives while
        the first is still being handled (a channel closed mid-send) waits for its end."""
        while (earlier := self._in_hand.get(fire)) is not None:
            await earlier
        done = asyncio.get_running_loop().create_future()
        self._in_hand[fire] = done
        try:
            yield
        finally:
            del self._in_hand[fire]
            done.set_result(None)

    async def _retry_or_park(self, message: Delivery, fire: Fire, error: str) -> str:
        attempt = _attempt(message)
        if attempt > len(self._retry_delays):
            await self._park(message, f"gave up after {attempt} tries: {error}")
            await self._note(fire, "parked", attempt, f"gave up after {attempt} tries: {error}")
            log.warning(
                "mail given up",
                extra={"fire": f"{fire[0]}:{fire[1]}", "tries": attempt, "error": error},
            )
            return "parked_exhausted"
        await self._source.retry(
            message,
            self._retry_delays[attempt - 1],
            {ATTEMPT_HEADER: attempt + 1, REASON_HEADER: error},
        )
        await self._note(fire, "retrying", attempt, error)
        log.info(
            "mail failed: will retry",
            extra={
                "fire": f"{fire[0]}:{fire[1]}",
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

    async def _was_sent(self, fire: Fire) -> bool | None:
        """Whether this fire was mailed already, asking again while the database is away;
        None if the notifier stops before it answers (the message is left unacked)."""
        failures = 0
        while True:
            try:
                return await self._deliveries.was_sent(fire, CHANNEL)
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.warning(
                        "duplicate check failed: holding the message until the database answers",
                        extra={"fire": f"{fire[0]}:{fire[1]}", "error": repr(exc)},
                    )
                if self._stopping.is_set():
                    return None
                await self._until_database(failures, self._stopping)

    async def _record_sent(self, fire: Fire, attempt: int) -> None:
        """Record the accepted mail, trying again while the database is away: the message is
        acked only after, so a redelivery finds the record. After ``stop`` it gives up past
        ``RECORD_GRACE_SECONDS``, and says so."""
        failures = 0
        give_up_at: float | None = None
        while True:
            try:
                await self._deliveries.record(Outcome(fire, CHANNEL, "sent", attempt))
                return
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.warning(
                        "could not record a sent mail: trying again before acking",
                        extra={"fire": f"{fire[0]}:{fire[1]}", "error": repr(exc)},
                    )
                if self._stopping.is_set():
                    now = time.monotonic()
                    give_up_at = give_up_at or now + RECORD_GRACE_SECONDS
                    if now >= give_up_at:
                        log.error(
                            "a sent mail was not recorded: were its message delivered again,"
                            " it would be mailed again",
                            extra={"fire": f"{fire[0]}:{fire[1]}", "error": repr(exc)},
                        )
                        return
                await self._until_database(failures, self._stopping)

    async def _note(self, fire: Fire, status: Status, attempt: int, error: str) -> None:
        """A failed delivery's state, for the events list: best effort, never holds the
        message (the retry or the parking queue has it already)."""
        try:
            await self._deliveries.record(Outcome(fire, CHANNEL, status, attempt, error))
        except Exception as exc:
            log.warning(
                "could not record a delivery's failure",
                extra={"fire": f"{fire[0]}:{fire[1]}", "status": status, "error": repr(exc)},
            )

    async def _until_database(self, failures: int, unless: asyncio.Event) -> None:
        """A short backoff, then until the database is believed back (or ``unless`` is set)."""
        await asyncio.sleep(
            full_jitter(failures, base=DATABASE_RETRY_BASE_SECONDS, cap=DATABASE_RETRY_CAP_SECONDS)
        )
        back = asyncio.ensure_future(self._deliveries.until_available())
        given_up = asyncio.ensure_future(unless.wait())
        await asyncio.wait({back, given_up}, return_when=asyncio.FIRST_COMPLETED)
        back.cancel()
        given_up.cancel()

    async def _log_summaries(self) -> None:
        while True:
            await asyncio.sleep(SUMMARY_EVERY_SECONDS)
            log.info("notifier summary", extra={**self._counts(), "in_flight": self._in_flight})

    def _counts(self) -> dict[str, int]:
        return {outcome: int(self.metrics.value(outcome)) for outcome in OUTCOMES}


def _attempt(message: Delivery) -> int:
    value = (message.headers or {}).get(ATTEMPT_HEADER, 1)
    return value if isinstance(value, int) and value >= 1 else 1
