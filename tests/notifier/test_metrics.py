"""What notifier counts (services/notifier/adapters/metrics.py): each delivery attempt by channel
and what it came to, once recorded, and the partners' Kafka mirrors the outbox relay settled."""

from __future__ import annotations

from prometheus_client import REGISTRY

from services.notifier.adapters.metrics import CHANNELS, STATUSES, mirrors_relayed
from services.notifier.domain import AttemptResult
from shared.outbox import KafkaRecord
from shared.topics import partner_responses_topic, partner_topic
from tests.notifier.test_handlers_delivery import (
    DOWN,
    LeaseTakenMeanwhile,
    _contact,
    _endpoint,
    _queue,
    world,
)


class Counts:
    """`stax_deliveries_total` as it stands, and how far it moved since the last look."""

    def __init__(self) -> None:
        self._before = self._read()

    @staticmethod
    def _read() -> dict[str, float]:
        return {
            f"{channel} {status}": REGISTRY.get_sample_value(
                "stax_deliveries_total", {"channel": channel, "status": status}
            )
            or 0.0
            for channel in CHANNELS
            for status in STATUSES
        }

    def moved(self) -> dict[str, float]:
        now = self._read()
        moved = {k: v - self._before[k] for k, v in now.items() if v != self._before[k]}
        self._before = now
        return moved


async def test_each_attempt_is_counted_by_channel_as_delivered_failed_or_given_up() -> None:
    w = world(schedule=(0, 10))
    w.webhooks.answers = [DOWN, DOWN]
    await _queue(w, endpoint_id=await _endpoint(w))
    await _queue(w, contact_id=await _contact(w, "p1", "desk@example.org", []))
    counts = Counts()

    await w.deliver()
    await w.deliver()
    assert counts.moved() == {"webhook failed": 1, "email delivered": 1}  # failed: tried again

    w.clock.advance(10)
    await w.deliver()
    assert counts.moved() == {"webhook gave_up": 1}  # its last attempt


async def test_a_permanent_refusal_is_given_up_at_once_and_a_lost_lease_counts_nothing() -> None:
    w = world(schedule=(0, 10))
    w.email.answers = [AttemptResult(ok=False, error="SMTP 550", permanent=True)]
    await _queue(w, contact_id=await _contact(w, "p1", "desk@example.org", []))
    counts = Counts()
    await w.deliver()
    assert counts.moved() == {"email gave_up": 1}

    delivery_id = await _queue(w, endpoint_id=await _endpoint(w))
    w.webhooks = LeaseTakenMeanwhile(w.store, delivery_id)
    await w.deliver()
    assert counts.moved() == {}


def _record(topic: str) -> KafkaRecord:
    return topic, b"k", {}, b"{}"


def test_the_partners_kafka_mirrors_are_counted_as_the_relay_settles_them() -> None:
    counts = Counts()

    mirrors_relayed(
        [_record(partner_topic("scrc-senegal")), _record("ta.notifications.v1")],
        [_record(partner_topic("unido")), _record(partner_responses_topic("unido"))],
    )

    assert counts.moved() == {"kafka delivered": 1, "kafka gave_up": 1}
