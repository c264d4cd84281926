"""The notifier against real RabbitMQ, PostgreSQL and an aiosmtpd server."""

from __future__ import annotations

import orjson

from shared.rabbit import parking_queue
from tests.notifier.helpers import (
    SENDER,
    StartNotifier,
    alert,
    drain_queue,
    publish,
    publish_alerts,
    queue_depth,
)
from tests.smtp_sink import SmtpSink


async def test_each_alert_becomes_one_mail_to_its_owner(
    start_notifier: StartNotifier, smtp_sink: SmtpSink, rabbitmq_url: str, queue_name: str
) -> None:
    running = await start_notifier()
    alerts = [
        alert(1, "ann@example.com"),
        alert(
            2,
            "bob@example.com",
            symbol="ETHUSDT",
            trigger_condition="below",
            target_price="3000",
            triggered_price="2999.99",
        ),
    ]
    await publish_alerts(rabbitmq_url, queue_name, alerts)
    received = await smtp_sink.wait_for(2)
    by_id = {r.alert_id: r for r in received}
    assert by_id[1].recipients == ["ann@example.com"]
    assert by_id[1].sender == SENDER
    assert by_id[2].message()["Subject"] == "ETHUSDT is below 3,000.00: your alert fired"
    await running.until(lambda: running.count("sent") == 2)
    assert await queue_depth(rabbitmq_url, queue_name) == 0  # acked


async def test_the_mails_reuse_a_few_connections(
    start_notifier: StartNotifier, smtp_sink: SmtpSink, rabbitmq_url: str, queue_name: str
) -> None:
    await start_notifier()
    await publish_alerts(rabbitmq_url, queue_name, [alert(i) for i in range(1, 41)])
    received = await smtp_sink.wait_for(40)
    assert len({r.peer for r in received}) <= 4  # the pool's size, not one per mail


async def test_a_message_delivered_twice_is_mailed_once(
    start_notifier: StartNotifier, smtp_sink: SmtpSink, rabbitmq_url: str, queue_name: str
) -> None:
    running = await start_notifier()
    await publish_alerts(rabbitmq_url, queue_name, [alert(5)])
    await running.until(lambda: running.count("sent") == 1)
    await publish_alerts(rabbitmq_url, queue_name, [alert(5), alert(6)])
    await running.until(lambda: running.count("sent") + running.count("duplicate") == 3)
    assert sorted(smtp_sink.alert_ids) == [5, 6]
    assert running.count("duplicate") == 1


async def test_smtp_down_then_back_delivers_after_a_retry_exactly_once(
    start_notifier: StartNotifier, smtp_sink: SmtpSink, rabbitmq_url: str, queue_name: str
) -> None:
    smtp_sink.stop()
    running = await start_notifier()
    await publish_alerts(rabbitmq_url, queue_name, [alert(9)])
    await running.until(lambda: running.count("retried") == 1)
    smtp_sink.start()
    await running.until(lambda: running.count("sent") == 1)
    assert smtp_sink.alert_ids == [9]
    assert await queue_depth(rabbitmq_url, queue_name) == 0


async def test_a_refused_recipient_is_parked_with_the_reason(
    start_notifier: StartNotifier, smtp_sink: SmtpSink, rabbitmq_url: str, queue_name: str
) -> None:
    smtp_sink.behaviour.refuse["gone@example.com"] = "550 5.1.1 no such mailbox"
    running = await start_notifier()
    await publish_alerts(rabbitmq_url, queue_name, [alert(3, "gone@example.com"), alert(4)])
    await running.until(lambda: running.count("parked_permanent") + running.count("sent") == 2)
    (parked,) = await drain_queue(rabbitmq_url, parking_queue(queue_name))
    assert orjson.loads(parked.body)["alert_id"] == 3
    assert parked.message_id == "3:1"  # the fire, as the matcher names it
    headers = parked.headers or {}
    assert "550" in str(headers["x-pricealert-reason"])
    assert smtp_sink.alert_ids == [4]
    assert running.count("retried") == 0


async def test_a_malformed_message_is_parked_and_the_next_one_still_mailed(
    start_notifier: StartNotifier, smtp_sink: SmtpSink, rabbitmq_url: str, queue_name: str
) -> None:
    running = await start_notifier()
    await publish(rabbitmq_url, queue_name, [b"{not json", b'{"alert_id": 1}'])
    await publish_alerts(rabbitmq_url, queue_name, [alert(8)])
    await smtp_sink.wait_for(1)
    await running.until(lambda: running.count("parked_malformed") == 2)
    parked = await drain_queue(rabbitmq_url, parking_queue(queue_name))
    assert sorted(p.body for p in parked) == [b'{"alert_id": 1}', b"{not json"]
    assert all("malformed" in str((p.headers or {})["x-pricealert-reason"]) for p in parked)
    assert smtp_sink.alert_ids == [8]


async def test_a_mail_still_deferred_after_the_last_try_is_parked(
    start_notifier: StartNotifier, smtp_sink: SmtpSink, rabbitmq_url: str, queue_name: str
) -> None:
    smtp_sink.behaviour.defer_everything = "451 4.3.0 try again later"
    running = await start_notifier()
    await publish_alerts(rabbitmq_url, queue_name, [alert(11)])
    await running.until(lambda: running.count("parked_exhausted") == 1)
    assert running.count("retried") == 2  # two delays: three tries in all
    (parked,) = await drain_queue(rabbitmq_url, parking_queue(queue_name))
    reason = str((parked.headers or {})["x-pricealert-reason"])
    assert "gave up after 3 tries" in reason
    assert "451" in reason
    assert smtp_sink.received == []
