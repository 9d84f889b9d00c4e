"""A partner's Kafka channel: its events mirrored to its own topic (ta.partner.<id>.v1)."""

from __future__ import annotations

from services.notifier.adapters import TopicWritable
from services.notifier.domain import KafkaChannel, NoKafkaTenant, NotFound
from services.notifier.unit_of_work import NotifierUnitOfWork, NotifierUnits
from shared.topics import partner_topic


async def enable_channel(
    units: NotifierUnits, topic_writable: TopicWritable, partner_id: str, event_types: list[str]
) -> KafkaChannel:
    """Only for a partner granted Kafka access (`stax kafka grant partner ID` creates its topic
    and lets notifier write it), so no mirror is ever written to a topic it cannot reach. The
    broker is asked before the unit opens: no transaction waits on it."""
    topic = partner_topic(partner_id)
    if not await topic_writable(topic):
        raise NoKafkaTenant(
            f"partner {partner_id} has no Kafka access yet: an operator runs "
            f"`stax kafka grant partner {partner_id}` first"
        )
    async with units() as uow:
        return await uow.kafka_channels.put(partner_id, topic, event_types)


async def get_channel(uow: NotifierUnitOfWork, partner_id: str) -> KafkaChannel:
    channel = await uow.kafka_channels.get(partner_id)
    if channel is None:
        raise NotFound("Kafka channel")
    return channel


async def disable_channel(uow: NotifierUnitOfWork, partner_id: str) -> None:
    if not await uow.kafka_channels.disable(partner_id):
        raise NotFound("Kafka channel")
