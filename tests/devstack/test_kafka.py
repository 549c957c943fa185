"""The embedded broker speaks enough Kafka for our producers and consumers."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def _roundtrip(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"user-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    return [(m.key, m.value) for messages in batch.values() for m in messages]


def test_a_message_produced_to_a_fresh_topic_is_consumed_back(kafka_bootstrap, kafka_topics):
    assert asyncio.run(_roundtrip(kafka_bootstrap, kafka_topics.events)) == [(b"user-1", b"hello")]
