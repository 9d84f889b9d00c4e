"""shared.runtime.stop_broker without Kafka: a broker whose close never ends does not hold the
service's shutdown (tests/e2e/test_kafka_tenants.py stops a real matcher at the bad moment)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from shared.runtime import stop_broker


class _Broker:
    def __init__(self, *, hangs: bool) -> None:
        self.hangs = hangs
        self.stopped = False
        self.cancelled = False

    async def stop(self) -> None:
        if self.hangs:
            try:
                await asyncio.Event().wait()  # a TLS close nobody answers
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        self.stopped = True


async def test_a_close_that_never_ends_is_given_up_after_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = _Broker(hangs=True)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="shared.runtime"):
        await stop_broker(broker, within=0.2)
    assert 0.15 < time.monotonic() - started < 1.0
    assert broker.cancelled and not broker.stopped
    assert "Kafka clients not closed after 0.2s" in caplog.text


async def test_a_prompt_close_is_waited_for_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = _Broker(hangs=False)
    with caplog.at_level(logging.WARNING, logger="shared.runtime"):
        await stop_broker(broker, within=0.2)
    assert broker.stopped
    assert not caplog.records
