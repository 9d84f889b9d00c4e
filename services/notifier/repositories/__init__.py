"""All of notifier's SQL, one repository per group of tables, each returning domain records.

Each is built on the connection of one unit of work (unit_of_work.py), so it runs inside that
unit's transaction."""

from __future__ import annotations

from services.notifier.repositories.contacts import ContactRepository
from services.notifier.repositories.deliveries import DeliveryRepository
from services.notifier.repositories.endpoints import EndpointRepository
from services.notifier.repositories.kafka_channels import KafkaChannelRepository
from services.notifier.repositories.requesters import RequesterRepository
from services.notifier.repositories.subscribers import SubscriberRepository

__all__ = [
    "ContactRepository",
    "DeliveryRepository",
    "EndpointRepository",
    "KafkaChannelRepository",
    "RequesterRepository",
    "SubscriberRepository",
]
