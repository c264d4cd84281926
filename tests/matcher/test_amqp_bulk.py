"""The bulk publish path: its frames are pamqp's frames, and a real broker confirms, returns
and delivers its messages as it does those of aiormq's own ``basic_publish``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aio_pika
import aiormq
import pytest
from aiormq.channel import Channel
from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands, frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from matcher.amqp_bulk import PublishEncoder, publish_batch

# pamqp leaves an empty property out altogether; ours are never empty.
short_text = st.text(min_size=1, max_size=60)


@given(
    channel=st.integers(1, 65535),
    routing_key=st.text(max_size=60),
    content_type=short_text,
    message_id=short_text,
    body=st.binary(max_size=2000),
)
def test_frames_are_the_ones_pamqp_writes(
    channel: int, routing_key: str, content_type: str, message_id: str, body: bytes
) -> None:
    out = bytearray()
    PublishEncoder(channel, routing_key, content_type).encode(out, message_id, body)
    properties = commands.Basic.Properties(
        content_type=content_type, delivery_mode=2, message_id=message_id
    )
    expected = (
        frame.marshal(commands.Basic.Publish(routing_key=routing_key, mandatory=True), channel)
        + frame.marshal(ContentHeader(0, len(body), properties), channel)
        + frame.marshal(ContentBody(body), channel)
    )
    assert bytes(out) == expected


def test_a_message_id_over_255_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="255"):
        PublishEncoder(1, "q", "application/json").encode(bytearray(), "x" * 256, b"{}")


@pytest.fixture
async def channel(rabbitmq_url: str) -> AsyncIterator[Channel]:
    connection = await aiormq.connect(rabbitmq_url)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    assert isinstance(channel, Channel)
    yield channel
    await connection.close()


async def test_a_batch_is_confirmed_and_delivered_in_order(
    channel: Channel, queue_name: str
) -> None:
    await channel.queue_declare(queue_name, durable=True)
    encoder = PublishEncoder(channel.number, queue_name, "application/json")
    batch = [(str(i), b'{"n": %d}' % i) for i in range(500)]

    outcomes = await publish_batch(channel, encoder, batch)

    assert all(isinstance(o, commands.Basic.Ack) for o in outcomes)
    for message_id, body in batch:
        message = await channel.basic_get(queue_name, no_ack=True)
        assert message.body == body
        properties = message.header.properties
        assert (properties.message_id, properties.delivery_mode) == (message_id, 2)
        assert properties.content_type == "application/json"
    assert channel.message_id_delivery_tag == {}


async def test_the_channel_stays_usable_beside_basic_publish(
    channel: Channel, queue_name: str
) -> None:
    await channel.queue_declare(queue_name, durable=True)
    encoder = PublishEncoder(channel.number, queue_name, "application/json")
    await channel.basic_publish(b"first", routing_key=queue_name)
    outcomes = await publish_batch(channel, encoder, [("a", b"second"), ("b", b"third")])
    assert all(isinstance(o, commands.Basic.Ack) for o in outcomes)
    confirm = await channel.basic_publish(b"fourth", routing_key=queue_name)
    assert isinstance(confirm, commands.Basic.Ack)
    bodies = []
    while (message := await channel.basic_get(queue_name, no_ack=True)).body:
        bodies.append(message.body)
        if len(bodies) == 4:
            break
    assert bodies == [b"first", b"second", b"third", b"fourth"]


async def test_an_unroutable_batch_fails_message_by_message(channel: Channel) -> None:
    nowhere = f"pricealert_test_nowhere_{uuid.uuid4().hex[:8]}"
    encoder = PublishEncoder(channel.number, nowhere, "application/json")
    outcomes = await publish_batch(channel, encoder, [("1", b"{}"), ("2", b"{}")])
    assert all(isinstance(o, aiormq.exceptions.PublishError) for o in outcomes)
    assert channel.message_id_delivery_tag == {}


async def test_a_body_larger_than_a_frame_is_refused_before_anything_is_sent(
    channel: Channel, queue_name: str
) -> None:
    await channel.queue_declare(queue_name, durable=True)
    encoder = PublishEncoder(channel.number, queue_name, "application/json")
    too_big = b"x" * channel.connection.connection_tune.frame_max
    with pytest.raises(ValueError, match="does not fit"):
        await publish_batch(channel, encoder, [("1", b"{}"), ("2", too_big)])
    outcomes = await publish_batch(channel, encoder, [("3", b"{}")])
    assert isinstance(outcomes[0], commands.Basic.Ack)
    declared = await channel.queue_declare(queue_name, durable=True)
    assert declared.message_count == 1


async def test_a_closed_connection_fails_the_batch(rabbitmq_url: str, queue_name: str) -> None:
    connection = await aio_pika.connect(rabbitmq_url)
    pika_channel = await connection.channel(publisher_confirms=True)
    await pika_channel.declare_queue(queue_name, durable=True)
    channel = await pika_channel.get_underlay_channel()
    assert isinstance(channel, Channel)
    encoder = PublishEncoder(channel.number, queue_name, "application/json")
    await connection.close()
    with pytest.raises(aiormq.exceptions.ChannelInvalidStateError):
        await publish_batch(channel, encoder, [("1", b"{}")])
