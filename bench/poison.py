"""Benchmark: good submissions per second through intake's Kafka path, clean and in a poison storm.

intake runs as its own process on a private stack (bench.common). A run writes N valid
submissions to `ta.requests.submitted.v1` (a trusted producer, acks=all) and stops the clock when
intake's `ta.request.accepted` for every one of them has been read back. The storm run mixes in,
at random places among the same number of good records, ~2 % garbage (values that are not JSON,
records that are not CloudEvents at all) and ~0.5 % oversized records (~0.9 MB: a submission with
huge lists, which intake rejects, or a blob that is not JSON, which it dead-letters). Target: the
storm keeps at least 0.9 × the clean rate of good submissions. Clean and storm runs alternate and
the best of each is compared, so that a hiccup of the shared machine is not read as the storm's.

    STAX_BENCH_PORT_BASE=25000 python -m bench.poison [--good N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import bench_stack, table
from deploy.local import stack
from shared import topics
from shared.events import RequestAccepted, RequestSubmitted
from shared.kafka_access import KafkaAccess

GARBAGE_SHARE = 0.02
OVERSIZED_SHARE = 0.005
OVERSIZED_BYTES = 900_000
LISTS = ("topics", "assistance_types", "pops", "languages")


def submission(ref: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_ref": ref,
        "party": "SEN",
        "title": "PCB inventory support",
        "description": "Help to finish the national PCB inventory.",
        "topics": ["PCB"],
        "assistance_types": ["training"],
        "pops": ["9"],
        "languages": ["fr"],
        "urgency": "urgent",
        "needed_by": (date.today() + timedelta(days=60)).isoformat(),
        "contact": {"name": "A. Ndiaye", "email": "a@example.sn", "organisation": "Ministry"},
    }
    return body | changes


def ce_headers(source: str, ce_id: str) -> list[tuple[str, bytes]]:
    attributes = {
        "ce_specversion": "1.0",
        "ce_id": ce_id,
        "ce_source": source,
        "ce_type": RequestSubmitted.ce_type,
        "ce_time": datetime.now(UTC).isoformat(),
        "content-type": "application/json",
    }
    return [(k, v.encode()) for k, v in attributes.items()]


@dataclass(frozen=True)
class Planned:
    kind: str  # good | not_json | not_cloudevent | oversized_json | oversized_blob
    ce_id: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass
class Storm:
    """What a run wrote: the good ones by external_ref, the bad ones by where they landed."""

    source: str
    good_refs: set[str] = field(default_factory=set)
    bad: dict[tuple[int, int], Planned] = field(default_factory=dict)  # (partition, offset) →


def plan(source: str, good: int, *, storm: bool, seed: int = 0) -> list[Planned]:
    """`good` valid submissions, plus (in a storm) the garbage and oversized ones among them."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    records = []
    for i in range(good):
        ce_id = str(uuid.uuid4())
        body = json.dumps(submission(f"{run}-{i}")).encode()
        records.append(Planned("good", ce_id, ce_id.encode(), body, ce_headers(source, ce_id)))
    if not storm:
        return records
    n_garbage = max(1, round(good * GARBAGE_SHARE))
    n_oversized = max(1, round(good * OVERSIZED_SHARE))
    bad = []
    for i in range(n_garbage):
        ce_id = str(uuid.uuid4())
        if i % 2:  # CloudEvents headers around a value that is not JSON
            value = rng.randbytes(rng.randint(1, 2000))
            bad.append(
                Planned(
                    "not_json", ce_id, ce_id.encode(), b"\x00" + value, ce_headers(source, ce_id)
                )
            )
        else:  # JSON without any CloudEvents header
            value = json.dumps(submission(f"{run}-garbage-{i}")).encode()
            bad.append(Planned("not_cloudevent", ce_id, ce_id.encode(), value, [("x-foo", b"bar")]))
    for i in range(n_oversized):
        ce_id = str(uuid.uuid4())
        if i % 2 == 0:  # a submission with huge lists: intake answers ta.request.rejected
            per_list = OVERSIZED_BYTES // (len(LISTS) * 5)
            huge = submission(f"{run}-huge-{i}", **{f: ["zz"] * per_list for f in LISTS})
            value = json.dumps(huge, separators=(",", ":")).encode()
            bad.append(
                Planned("oversized_json", ce_id, ce_id.encode(), value, ce_headers(source, ce_id))
            )
        else:  # a blob that is not JSON: dead-lettered, its value dropped from the dead letter
            value = b"\xff" + rng.randbytes(OVERSIZED_BYTES)
            bad.append(
                Planned("oversized_blob", ce_id, ce_id.encode(), value, ce_headers(source, ce_id))
            )
    for one in bad:
        records.insert(rng.randrange(len(records) + 1), one)
    return records


async def produce(kafka: KafkaAccess, records: list[Planned], source: str) -> Storm:
    """Write the records in order (acks=all, pipelined) and note where the bad ones landed."""
    producer = AIOKafkaProducer(
        **kafka.aiokafka(), acks="all", enable_idempotence=True, max_request_size=1_048_576
    )
    await producer.start()
    storm = Storm(source)
    try:
        futures = [
            (
                r,
                await producer.send(
                    topics.REQUESTS_SUBMITTED, r.value, key=r.key, headers=r.headers
                ),
            )
            for r in records
        ]
        for r, future in futures:
            meta = await future
            if r.kind == "good":
                storm.good_refs.add(json.loads(r.value)["external_ref"])
            else:
                storm.bad[(meta.partition, meta.offset)] = r
    finally:
        await producer.stop()
    return storm


async def latest_consumer(kafka: KafkaAccess, topic: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        topic, **kafka.aiokafka(), auto_offset_reset="latest", fetch_max_bytes=4 * 1_048_576
    )
    await consumer.start()
    while not consumer.assignment():  # joined: nothing produced from now on is missed
        await consumer.getmany(timeout_ms=100)
    await consumer.seek_to_end()
    return consumer


def _header(headers: Any, name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return (value or b"").decode()
    return None


async def wait_accepted(consumer: AIOKafkaConsumer, source: str, refs: set[str]) -> None:
    """Read ta.requests.v1 until every external_ref in `refs` was accepted (removed as seen)."""
    while refs:
        batch = await consumer.getmany(timeout_ms=200)
        for records in batch.values():
            for record in records:
                if _header(record.headers, "ce_type") != RequestAccepted.ce_type:
                    continue
                data = json.loads(record.value or b"{}")
                if data.get("submitter") == source:
                    refs.discard(data.get("external_ref"))


async def timed_run(kafka: KafkaAccess, good: int, *, storm: bool, seed: int) -> tuple[float, int]:
    """Seconds until all good ones were accepted, and the number of bad records among them."""
    source = f"/bench/poison/{uuid.uuid4().hex[:8]}"
    records = plan(source, good, storm=storm, seed=seed)
    consumer = await latest_consumer(kafka, topics.REQUESTS)
    try:
        started = time.perf_counter()
        written = await produce(kafka, records, source)
        await asyncio.wait_for(wait_accepted(consumer, source, set(written.good_refs)), 300)
        return time.perf_counter() - started, len(written.bad)
    finally:
        await consumer.stop()


async def measure(cfg: stack.StackSettings, good: int, rounds: int) -> None:
    kafka = cfg.kafka_access()
    await timed_run(kafka, min(100, good), storm=True, seed=99)  # warm-up: connections, caches
    clean: list[float] = []
    stormy: list[float] = []
    bad = 0
    for n in range(rounds):
        clean.append((await timed_run(kafka, good, storm=False, seed=n))[0])
        seconds, bad = await timed_run(kafka, good, storm=True, seed=n)
        stormy.append(seconds)
    clean_rate, storm_rate = good / min(clean), good / min(stormy)
    table(
        f"intake's Kafka path: {good} good submissions, best of {rounds} alternating rounds",
        ["run", "seconds (best)", "seconds (all)", "good/s"],
        [
            [
                "clean",
                f"{min(clean):.2f}",
                " ".join(f"{s:.2f}" for s in clean),
                f"{clean_rate:.0f}",
            ],
            [
                f"storm (+{bad} bad: ~2 % garbage, ~0.5 % ~0.9 MB)",
                f"{min(stormy):.2f}",
                " ".join(f"{s:.2f}" for s in stormy),
                f"{storm_rate:.0f}",
            ],
        ],
    )
    print(f"\n  ratio storm / clean: {storm_rate / clean_rate:.2f} (target >= 0.90)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--good", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with bench_stack() as cfg:
        stack.start_service(cfg, "intake", log=lambda line: print(f"  [stack] {line}"))
        try:
            stack.wait_ready(cfg, ("intake",), timeout=90)
            asyncio.run(measure(cfg, args.good, args.rounds))
        finally:
            stack.stop_service(cfg, "intake", log=lambda line: print(f"  [stack] {line}"))


if __name__ == "__main__":
    main()
