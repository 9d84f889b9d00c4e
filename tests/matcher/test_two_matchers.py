"""Two matcher processes in one consumer group, redeliveries and a crash: never a slot offered
twice at once, never a partner asked twice for one request (real Kafka, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from deploy.local import processes, stack
from shared.events import RequestAccepted
from shared.kafka_access import KafkaAccess
from tests.matcher.helpers import Emitted, accepted, answer
from tests.matcher.kafka_io import count, data, publish, record, wait_for
from tests.stack_helpers import Services

OFFERED, DECLINED = "ta.assignment.offered", "ta.assignment.declined"
MIX: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("SEN", ("PCB",), ("fr",)),
    ("MLI", ("PCB", "LEGAL"), ("fr",)),
    ("BRA", ("MONLAB", "WASTE"), ("pt",)),
    ("CHN", ("UPOP", "BATBEP"), ("zh",)),
    ("KEN", ("PEST",), ("en",)),
    ("IND", ("PEST", "FIN"), ("en",)),
]


@pytest.fixture
def twin(services: Services, tmp_path: Path) -> Iterator[stack.StackSettings]:
    """A second matcher process: same Kafka, database and consumer group, its own port."""
    services.ensure("matcher")
    cfg = services.cfg
    second = cfg.model_copy(
        update={
            "home": tmp_path,
            "matcher_port": cfg.matcher_port + 10,
            "kafka_bootstrap_servers": cfg.bootstrap,
            "kafka_home": cfg.kafka.home,  # the broker's credentials stay where they are
            "database_url": cfg.db_url,
        }
    )
    try:
        stack.start_service(second, "matcher", log=print)
        stack.wait_ready(second, ("matcher",), timeout=90)
        yield second
    finally:  # also when it failed to become ready: never leave a process behind
        stack.stop_service(second, "matcher", log=print)


async def _applied(port: int) -> float:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("stax_consumed_records_total{") and 'outcome="applied"' in line
    )


async def _wait_all_leads_replaced(pool: asyncpg.Pool, ids: list[object], seconds: float) -> None:
    """Until every declined lead slot has a new live offer or has run out of candidates."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pending = await pool.fetchval(
            "SELECT count(*) FROM matcher.slots s WHERE s.request_id = ANY($1::uuid[]) "
            "AND s.slot = 0 AND NOT (EXISTS (SELECT 1 FROM matcher.assignments d "
            "WHERE d.request_id = s.request_id AND d.slot = 0 AND d.status = 'declined') "
            "AND (s.status = 'exhausted' OR EXISTS (SELECT 1 FROM matcher.assignments a "
            "WHERE a.request_id = s.request_id AND a.slot = 0 AND a.status = 'offered')))",
            ids,
        )
        if pending == 0:
            return
        await asyncio.sleep(0.3)
    pytest.fail(f"{pending} declined lead slots were never re-offered")


async def _until_the_twin_works(
    kafka: KafkaAccess, twin: stack.StackSettings
) -> list[RequestAccepted]:
    sent: list[RequestAccepted] = []
    deadline = time.monotonic() + 60
    while await _applied(twin.matcher_port) == 0:
        assert time.monotonic() < deadline, "the second matcher never got a partition"
        party, topics, langs = MIX[len(sent) % len(MIX)]
        sent.append(accepted(party, topics, ("training",), langs))
        await publish(kafka, [record(sent[-1], sent[-1].request_id)])
        await asyncio.sleep(0.5)
    return sent


async def test_two_matchers_with_redeliveries_and_a_crash_never_offer_a_slot_twice(
    services: Services, twin: stack.StackSettings, pool: asyncpg.Pool, kafka: KafkaAccess
) -> None:
    # Until the twin has joined the group and holds partitions, requests trickle in one by one.
    requests = await _until_the_twin_works(kafka, twin)
    requests += [
        accepted(party, topics, ("training",), langs)
        for _ in range(4)
        for party, topics, langs in MIX
    ]
    ids = {str(r.request_id) for r in requests}
    batch = []
    for n, request in enumerate(requests):
        once = record(request, request.request_id)
        batch += [once, once]  # the same event twice (same ce_id): a redelivery
        if n % 3 == 0:
            batch.append(record(request, request.request_id))  # a copy with a new ce_id
    await publish(kafka, batch)

    def every_request_offered(events: list[Emitted]) -> bool:
        return {e.data["request_id"] for e in events if e.type == OFFERED} >= ids

    events = await wait_for(kafka, ids, every_request_offered, wait=60)
    assert every_request_offered(events)

    leads = [o for o in data(events, OFFERED) if o["role"] == "lead"]
    assert len(leads) == len(requests)
    declines = [record(answer(o, "decline"), o["request_id"]) for o in leads]
    await publish(kafka, declines + [record(answer(o, "decline"), o["request_id"]) for o in leads])
    pid = stack.service_pid(twin, "matcher")
    assert pid is not None
    processes.send(pid, signal.SIGKILL)  # mid-flight: its partitions move over

    await _wait_all_leads_replaced(pool, [r.request_id for r in requests], seconds=90)
    events = await wait_for(kafka, ids, lambda es: count(es, DECLINED) >= len(leads), wait=30)
    assert count(events, DECLINED) == len(leads)  # each lead declined once, despite the copies

    rows = await pool.fetch(
        "SELECT request_id, slot, partner_id, status, created_at, closed_at "
        "FROM matcher.assignments WHERE request_id = ANY($1::uuid[]) ORDER BY created_at",
        [r.request_id for r in requests],
    )
    offered = data(events, OFFERED)
    assert len(offered) == len(rows)  # every offer announced once, every announcement recorded
    asked = [(str(r["request_id"]), r["partner_id"]) for r in rows]
    assert len(asked) == len(set(asked))  # never the same partner twice for one request
    by_slot: dict[tuple[str, int], list[asyncpg.Record]] = {}
    for row in rows:
        by_slot.setdefault((str(row["request_id"]), row["slot"]), []).append(row)
    for history in by_slot.values():
        live = [r for r in history if r["status"] in ("offered", "accepted")]
        assert len(live) <= 1
        for earlier, later in itertools.pairwise(history):
            assert earlier["closed_at"] is not None
            assert earlier["closed_at"] <= later["created_at"]  # closed before the next offer
