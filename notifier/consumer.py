"""The notifier: fire messages from RabbitMQ to each of their channels (email, webhook,
Telegram), each message acked only once the fate of every channel is sealed: accepted, a retry
scheduled, or parked.

Each channel of a fire is one delivery, sent concurrently with the others and retried or
parked on its own: a failing channel is republished as a copy of the message naming that
channel alone (``x-pricealert-channel``) to the delay queue of its attempt, or to the parking
queue with the reason, so a webhook that is down never holds back the email, and a retry sends
only that channel again. Nothing sleeps in the consumer and nothing is requeued in a loop. The
outcome of every delivery is written to PostgreSQL (``notifier.deliveries``), where the events
list reads it, and where a channel already ``sent`` is never sent again.

No second send when a server restarts:

- When the channel closes (a broker restart, a cut connection), aiormq cancels the callback
  tasks of every unacked delivery. The handling is not that task: it is shielded from it, so a
  send the channel accepted is always recorded; only the ack fails, and the redelivery finds
  the record. A delivery whose channel is already gone before it is sent is left alone: the
  redelivery sends it.
- A redelivery that arrives while this process still handles the same fire and channel waits
  for it, then finds the record.
- While PostgreSQL is away, the duplicate check and the record are retried, the message held
  unacked, rather than sending without a check or acking without a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from notifier.channels import Channel
from notifier.deliveries import DeliveryLog, Fire, Outcome, Status
from notifier.errors import PermanentSendError, TransientSendError
from notifier.metrics import NotifierMetrics
from notifier.sources import Delivery, Headers, MessageSource
from shared.backoff import full_jitter
from shared.errors import PartStopped
from shared.messages import AlertMessage
from shared.schema import SchemaGate
from shared.version import Version

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-pricealert-attempt"  # 1 for the first delivery, absent means 1
REASON_HEADER = "x-pricealert-reason"
CHANNEL_HEADER = "x-pricealert-channel"  # a copy for one channel: its retry, or its parking
SUMMARY_EVERY_SECONDS = 60.0
DATABASE_RETRY_BASE_SECONDS = 0.1
DATABASE_RETRY_CAP_SECONDS = 1.0
# After stop, how long a send's record may still be retried before the process gives up on it
# (and a redelivery of that message would send again).
RECORD_GRACE_SECONDS = 10.0
MAX_WAIT = 86_400  # the longest Retry-After honoured, in seconds


@dataclass(frozen=True, slots=True)
class _Retry:
    delay: float
    attempt: int  # the attempt the retry will be
    error: str


@dataclass(frozen=True, slots=True)
class _Park:
    reason: str


_DONE = "done"  # sent now, or already sent before
_Result = str | _Retry | _Park | None  # None: leave the message for a redelivery


class Notifier:
    def __init__(
        self,
        source: MessageSource,
        *,
        channels: Mapping[str, Channel],
        deliveries: DeliveryLog,
        retry_delays: Sequence[float],
        metrics: NotifierMetrics | None = None,
        schema_gate: SchemaGate | None = None,
    ) -> None:
        self._source = source
        self._channels = dict(channels)
        self._deliveries = deliveries
        self._retry_delays = tuple(retry_delays)
        self.metrics = metrics or NotifierMetrics()
        self.ready = asyncio.Event()
        self._schema = schema_gate  # None: no database, no schema to wait for
        self.progress = Version()  # bumped after every message handled
        self._stopping = asyncio.Event()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._work: set[asyncio.Task[None]] = set()  # deliveries being handled
        # (fire, channel) -> the end of its handling in this process
        self._in_hand: dict[tuple[Fire, str], asyncio.Future[None]] = {}

    @property
    def source(self) -> MessageSource:
        return self._source

    def stop(self) -> None:
        """Stop taking messages; ``run`` returns once the ones in hand are settled."""
        self._stopping.set()

    def waiting_for(self) -> str | None:
        """What keeps the notifier from being ready (``/readyz``), or None while it consumes
        (not while its RabbitMQ connection is down: a consumer without a broker is not ready).
        Read from the probes' thread: plain attributes only."""
        if self._stopping.is_set():
            return "stopping"
        if self._schema is not None and self._schema.waiting_for is not None:
            return self._schema.waiting_for
        if not self.ready.is_set():
            return f"connecting to {self._source.description}"
        return self._source.unavailable()

    async def run(self) -> None:
        """Wait for the database schema (with a database), then consume until ``stop``; then
        settle the messages in hand and return. Its summary task ending on its own stops it
        with ``PartStopped``."""
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            if self._schema is not None:
                schema = asyncio.ensure_future(self._schema.wait())
                await asyncio.wait({schema, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not schema.done():
                    schema.cancel()
                    log.info("notifier stopped while waiting for the database schema")
                    return
                schema.result()
            await self._consume(stopping)
        finally:
            stopping.cancel()

    async def _consume(self, stopping: asyncio.Future[Any]) -> None:
        try:
            await self._source.start(self._on_message)
            self.ready.set()
            summary = asyncio.create_task(self._log_summaries(), name="summary")
            try:
                await asyncio.wait({stopping, summary}, return_when=asyncio.FIRST_COMPLETED)
                if summary.done():
                    error = None if summary.cancelled() else summary.exception()
                    log.error(
                        "a part of the notifier stopped: the notifier stops with it",
                        extra={"part": "summary", "error": repr(error)},
                        exc_info=error,
                    )
                    raise PartStopped(f"notifier: its summary task stopped: {error!r}") from error
                log.info("notifier stopping: no new messages", extra={"in_flight": self._in_flight})
                await self._source.stop_consuming()
                await self._idle.wait()
            finally:
                summary.cancel()
        finally:
            await self._source.close()
        log.info("notifier stopped", extra=self.metrics.totals())

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
            if await self._handle(message):
                await self._ack(message)
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
            self.progress.bump()

    async def _ack(self, message: Delivery) -> None:
        try:
            await self._source.ack(message)
        except Exception as exc:
            # The channel closed after every outcome was sealed: the redelivery is recognised.
            log.info(
                "ack lost with the channel: the redelivery will be recognised",
                extra={"message_id": message.message_id, "error": repr(exc)},
            )

    async def _handle(self, message: Delivery) -> bool:
        """Deliver every channel the message names (or the one its copy is for) and schedule
        what failed; whether the message may be acked. Raises only when RabbitMQ fails us."""
        try:
            alert = AlertMessage.from_json(message.body)
        except ValueError as exc:
            await self._source.park(message, _parking_headers(message, f"malformed: {exc}"))
            self.metrics.count("parked_malformed", "-")
            log.warning("malformed message parked", extra={"error": str(exc)})
            return True
        only = (message.headers or {}).get(CHANNEL_HEADER)
        names = [only] if isinstance(only, str) else list(alert.channels)
        if len(names) == 1:  # the common case, without a task of its own
            results = [await self._deliver(message, alert, names[0])]
        else:
            results = await asyncio.gather(*(self._deliver(message, alert, n) for n in names))
        if any(result is None for result in results):
            return False  # some channel waits for the redelivery; the others are recorded
        for name, result in zip(names, results, strict=True):
            if isinstance(result, _Retry):
                retry = {
                    ATTEMPT_HEADER: result.attempt,
                    REASON_HEADER: result.error[:1000],
                    CHANNEL_HEADER: name,
                }
                await self._source.retry(message, result.delay, retry)
            elif isinstance(result, _Park):
                parking = {**_parking_headers(message, result.reason), CHANNEL_HEADER: name}
                await self._source.park(message, parking)
        return True

    async def _deliver(self, message: Delivery, alert: AlertMessage, name: str) -> _Result:
        fire, attempt = alert.fire, _attempt(message)
        channel = self._channels.get(name)
        if channel is None:
            reason = f"no {name} channel is configured on this notifier"
            return await self._give_up(fire, name, attempt, reason, "parked_permanent")
        async with self._only_delivery_of(fire, name):
            sent = await self._was_sent(fire, name)
            if sent is None:
                return None
            if sent:
                self.metrics.count("duplicate", name)
                log.info("already delivered", extra={"fire": alert.message_id, "channel": name})
                return _DONE
            if not self._source.still_held(message):
                return None  # its channel closed: the redelivery will send it
            started = time.perf_counter()
            try:
                await channel.deliver(alert)
            except PermanentSendError as exc:
                return await self._give_up(fire, name, attempt, str(exc), "parked_permanent")
            except TransientSendError as exc:
                return await self._later(fire, name, attempt, str(exc), exc.retry_after)
            except Exception as exc:  # a fault of ours in a channel: logged, and tried again
                log.exception("channel failed", extra={"fire": alert.message_id, "channel": name})
                return await self._later(fire, name, attempt, repr(exc), None)
            self.metrics.send_seconds.labels(name).observe(time.perf_counter() - started)
            await self._record_sent(fire, name, attempt)
            self.metrics.count("sent", name)
            return _DONE

    async def _later(
        self, fire: Fire, name: str, attempt: int, error: str, retry_after: float | None
    ) -> _Result:
        if attempt > len(self._retry_delays):
            reason = f"gave up after {attempt} tries: {error}"
            return await self._give_up(fire, name, attempt, reason, "parked_exhausted")
        delay = self._retry_delay(attempt, retry_after)
        await self._note(fire, name, "retrying", attempt, error)
        self.metrics.count("retried", name)
        log.info(
            "delivery failed: will retry",
            extra={
                "fire": _text(fire),
                "channel": name,
                "try": attempt,
                "retry_in_s": delay,
                "error": error,
            },
        )
        return _Retry(delay, attempt + 1, error)

    async def _give_up(
        self, fire: Fire, name: str, attempt: int, reason: str, outcome: str
    ) -> _Result:
        await self._note(fire, name, "parked", attempt, reason)
        self.metrics.count(outcome, name)
        log.warning(
            "delivery given up", extra={"fire": _text(fire), "channel": name, "reason": reason}
        )
        return _Park(reason)

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        """The delay of this attempt; if the server asked for a longer wait, the shortest
        configured delay that is as long, or else its wait in whole seconds (a delay queue of
        its own), at most a day."""
        delay = self._retry_delays[attempt - 1]
        if retry_after is not None and retry_after > delay:
            longer = [d for d in self._retry_delays if d >= retry_after]
            delay = min(longer) if longer else float(min(math.ceil(retry_after), MAX_WAIT))
        return delay

    @contextlib.asynccontextmanager
    async def _only_delivery_of(self, fire: Fire, name: str) -> AsyncIterator[None]:
        """One delivery of a fire's channel at a time in this process: a redelivery that
        arrives while the first is still being handled (a channel closed mid-send) waits."""
        key = (fire, name)
        while (earlier := self._in_hand.get(key)) is not None:
            await earlier
        done = asyncio.get_running_loop().create_future()
        self._in_hand[key] = done
        try:
            yield
        finally:
            del self._in_hand[key]
            done.set_result(None)

    async def _was_sent(self, fire: Fire, name: str) -> bool | None:
        """Whether this channel of this fire was delivered already, asking again while the
        database is away; None if the notifier stops before it answers (left unacked)."""
        failures = 0
        while True:
            try:
                return await self._deliveries.was_sent(fire, name)
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.warning(
                        "duplicate check failed: holding the message until the database answers",
                        extra={"fire": _text(fire), "channel": name, "error": repr(exc)},
                    )
                if self._stopping.is_set():
                    return None
                await self._until_database(failures)

    async def _record_sent(self, fire: Fire, name: str, attempt: int) -> None:
        """Record the accepted send, trying again while the database is away: the message is
        acked only after, so a redelivery finds the record. After ``stop`` it gives up past
        ``RECORD_GRACE_SECONDS``, and says so."""
        failures = 0
        give_up_at: float | None = None
        while True:
            try:
                await self._deliveries.record(Outcome(fire, name, "sent", attempt))
                return
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.warning(
                        "could not record a delivery: trying again before acking",
                        extra={"fire": _text(fire), "channel": name, "error": repr(exc)},
                    )
                if self._stopping.is_set():
                    now = time.monotonic()
                    give_up_at = give_up_at or now + RECORD_GRACE_SECONDS
                    if now >= give_up_at:
                        log.error(
                            "a delivery was not recorded: were its message delivered again,"
                            " it would be sent again",
                            extra={"fire": _text(fire), "channel": name, "error": repr(exc)},
                        )
                        return
                await self._until_database(failures)

    async def _note(self, fire: Fire, name: str, status: Status, attempt: int, error: str) -> None:
        """A failed delivery's state, for the events list: best effort, never holds the
        message (the retry or the parking queue has it already)."""
        try:
            await self._deliveries.record(Outcome(fire, name, status, attempt, error))
        except Exception as exc:
            log.warning(
                "could not record a delivery's failure",
                extra={"fire": _text(fire), "channel": name, "status": status, "error": repr(exc)},
            )

    async def _until_database(self, failures: int) -> None:
        """A short backoff, then until the database is believed back (or the notifier stops)."""
        await asyncio.sleep(
            full_jitter(failures, base=DATABASE_RETRY_BASE_SECONDS, cap=DATABASE_RETRY_CAP_SECONDS)
        )
        back = asyncio.ensure_future(self._deliveries.until_available())
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({back, stopping}, return_when=asyncio.FIRST_COMPLETED)
        back.cancel()
        stopping.cancel()

    async def _log_summaries(self) -> None:
        while True:
            await asyncio.sleep(SUMMARY_EVERY_SECONDS)
            log.info(
                "notifier summary", extra={**self.metrics.totals(), "in_flight": self._in_flight}
            )


def _attempt(message: Delivery) -> int:
    value = (message.headers or {}).get(ATTEMPT_HEADER, 1)
    return value if isinstance(value, int) and value >= 1 else 1


def _parking_headers(message: Delivery, reason: str) -> Headers:
    return {
        REASON_HEADER: reason[:1000],
        ATTEMPT_HEADER: _attempt(message),
        "x-pricealert-parked-at": datetime.now(UTC).isoformat(),
    }


def _text(fire: Fire) -> str:
    return f"{fire[0]}:{fire[1]}"
