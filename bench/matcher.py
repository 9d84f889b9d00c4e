"""matcher's benchmarks: CPU to match one request, and offers per second through Kafka.

1. Matching CPU (`time.process_time`, many runs) against 100, 1,000 and 10,000 synthetic partners
   with the shape of the real registry; the baseline, measured in the same run, is a plain
   scorer that looks at every partner with Python sets (no inverted index, no bit masks).
2. End to end: N `ta.request.accepted` published to ta.requests.v1, one matcher process, until
   every offer is on ta.assignments.v1; the baseline is Kafka alone moving the same N records
   (produce, then consume) on the same broker. Measured with the broker's security on (TLS + SCRAM
   + ACLs; matcher as its own principal, the bench's clients as the admin) and off (PLAINTEXT), on
   two private stacks in alternating rounds; a last table gives the medians and the ratio on/off
   (bench.common). Part 1 touches no Kafka and runs once.

    STAX_BENCH_PORT_BASE=25000 python -m bench.matcher [--requests N] [--rounds R]
        [--security both|on|off] [--skip-cpu]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import (
    CpuClock,
    Metric,
    Samples,
    add_security_flag,
    bench_stacks,
    log_for,
    mode_name,
    record_results,
    schedule,
    security_table,
    table,
)
from deploy.local import stack
from services.matcher.adapters import reference_data
from services.matcher.domain import (
    MatchPolicy,
    PartnerSpec,
    Query,
    Registry,
    RequestProfile,
)
from services.matcher.handlers import requests as matching
from services.matcher.handlers.catalog import Catalog
from services.matcher.handlers.saga import Matching
from services.matcher.unit_of_work import pg_units
from shared import topics
from shared.db import create_pool
from shared.envelope import Envelope, build_record
from shared.events import Contact, Eligibility, RequestAccepted
from shared.kafka import ensure_topics
from shared.kafka_access import KafkaAccess

TAXONOMY = reference_data.load_taxonomy()
TOPICS = sorted(TAXONOMY.topics)
TYPES = sorted(TAXONOMY.assistance_types)
LANGS = ["ar", "en", "es", "fr", "ru", "zh", "pt"]
COUNTRIES = sorted(TAXONOMY.regions_of)
REGIONS = sorted(TAXONOMY.regions)
ASKS = [
    ("SEN", ["PCB"], ["training"], ["fr"]),
    ("MLI", ["PCB", "LEGAL"], ["training", "expert_advice"], ["fr"]),
    ("BRA", ["MONLAB", "WASTE"], ["laboratory"], ["pt", "es"]),
    ("CHN", ["UPOP", "BATBEP", "FIN"], ["technology_transfer"], ["zh", "en"]),
    ("KEN", ["PEST"], ["training"], ["en"]),
    ("IND", ["PEST", "NIP"], ["guidance"], ["en"]),
]


def synthetic_partners(n: int, rng: random.Random) -> list[PartnerSpec]:
    """Like the real registry: some global, many regional, most serving a list of countries."""
    made = []
    for i in range(n):
        reach = rng.random()
        made.append(
            PartnerSpec(
                partner_id=f"p{i:05d}",
                name=f"Partner {i}",
                kind=rng.choice(["party", "regional_centre", "igo"]),
                country=rng.choice(COUNTRIES),
                serves_global=reach < 0.1,
                serves_regions=rng.sample(REGIONS, 1) if 0.1 <= reach < 0.4 else [],
                serves_countries=rng.sample(COUNTRIES, rng.randint(5, 25)) if reach >= 0.4 else [],
                topics=rng.sample(TOPICS, rng.randint(1, 4)),
                assistance_types=rng.sample(TYPES, rng.randint(1, 3)),
                languages=rng.sample(LANGS, rng.randint(1, 2)),
                capacity=rng.randint(5, 50),
            )
        )
    return made


def profile(party: str, topics_: list[str], types: list[str], langs: list[str]) -> RequestProfile:
    return RequestProfile(
        party, TAXONOMY.regions_of[party], tuple(topics_), tuple(types), tuple(langs)
    )


def naive_best(specs: Sequence[PartnerSpec], p: RequestProfile) -> list[str]:
    """Baseline: score every partner with sets, sort, take the top three."""
    scored = []
    for s in specs:
        covers = set(s.topics) & set(p.topics)
        if not covers:
            continue
        if p.party in s.serves_countries:
            geo = 1.0
        elif set(s.serves_regions) & set(p.regions):
            geo = 0.6
        elif s.serves_global:
            geo = 0.3
        else:
            continue
        score = (
            0.4 * len(covers) / len(p.topics)
            + 0.2 * len(set(s.assistance_types) & set(p.assistance_types)) / len(p.assistance_types)
            + 0.2 * geo
            + 0.1 * bool(set(s.languages) & set(p.languages))
            + 0.1
        )
        scored.append((score, s.partner_id))
    scored.sort(reverse=True)
    return [pid for _, pid in scored[:3]]


def cpu_ms(run: Callable[[], object], repeat: int) -> float:
    """Median CPU milliseconds per call, over 5 rounds of `repeat` calls."""
    rounds = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(repeat):
            run()
        rounds.append((time.process_time() - started) * 1000 / repeat)
    return statistics.median(rounds)


def bench_cpu() -> None:
    rng = random.Random(12)
    rows = []
    policy = MatchPolicy()
    real = Registry(reference_data.load_seed(TAXONOMY).partners)
    sizes: list[tuple[str, Sequence[PartnerSpec] | None]] = [("real (26)", None)]
    sizes += [(f"{n:,}", synthetic_partners(n, rng)) for n in (100, 1_000, 10_000)]
    profiles = [profile(*ask) for ask in ASKS]
    for label, specs in sizes:
        registry = real if specs is None else Registry(specs)
        loads = {p.partner_id: rng.randint(0, 3) for p in registry.partners[::3]}
        queries = [registry.query(p) for p in profiles]
        candidates = sum(len(registry.scored(q, loads, set())) for q in queries) / len(queries)

        def match(
            reg: Registry = registry, qs: list[Query] = queries, ld: dict[str, int] = loads
        ) -> None:
            for q in qs:
                reg.candidate_ids(q)
                reg.plan(q, ld, policy)

        def naive(specs: list[PartnerSpec] = [p.spec for p in registry.partners]) -> None:  # noqa: B006
            for p in profiles:
                naive_best(specs, p)

        repeat = max(3, 2_000 // max(len(registry.partners) // 20, 1))
        ours = cpu_ms(match, repeat) / len(queries)
        base = cpu_ms(naive, max(1, repeat // 4)) / len(profiles)
        rows.append(
            [label, f"{candidates:,.0f}", f"{ours:.3f}", f"{base:.3f}", f"{base / ours:.1f}x"]
        )
    table(
        "Matching one request (CPU ms per request, median of 5 rounds; 6 request shapes)",
        ["partners", "eligible", "matcher ms", "naive ms", "speed-up"],
        rows,
    )


def request(n: int) -> RequestAccepted:
    party, topics_, types, langs = ASKS[n % len(ASKS)]
    return RequestAccepted(
        external_ref=f"bench-{n}",
        party=party,
        title="Bench",
        description="Bench request",
        topics=topics_,
        assistance_types=types,
        languages=langs,
        contact=Contact(name="B", email="b@example.org", organisation="Bench"),
        request_id=uuid4(),
        submitter="bench",
        region=TAXONOMY.regions_of[party][0],
        eligibility=Eligibility(
            developing=True, economy_in_transition=False, ldc=False, sids=False
        ),
        accepted_at=datetime.now(UTC),
    )


Payload = list[tuple[bytes, bytes, list[tuple[str, bytes]]]]


async def _produce(kafka: KafkaAccess, topic: str, records: Payload) -> None:
    producer = AIOKafkaProducer(**kafka.aiokafka(), enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, v, key=k, headers=h) for k, v, h in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _writable(kafka: KafkaAccess, topic: str, partitions: int) -> None:
    """Create `topic` and wait until every partition takes a record: a topic just created has no
    leader for a moment, and aiokafka's retries must not land inside the clock."""
    await ensure_topics(kafka, {topic: partitions})
    producer = AIOKafkaProducer(**kafka.aiokafka())
    await producer.start()
    try:
        for partition in range(partitions):
            await producer.send_and_wait(topic, b"", key=b"ready", partition=partition)
    finally:
        await producer.stop()


async def _consume(consumer: AIOKafkaConsumer, expected: int, keys: set[bytes]) -> None:
    seen = 0
    while seen < expected:
        batch = await consumer.getmany(timeout_ms=500)
        seen += sum(r.key in keys for records in batch.values() for r in records)


def expected_offers(requests: Sequence[RequestAccepted]) -> int:
    """How many offers the real registry gives these requests (capacity is no limit here)."""
    registry = Registry(reference_data.load_seed(TAXONOMY).partners)
    shapes = {
        (r.party, tuple(r.topics)): len(
            registry.plan(
                registry.query(profile(r.party, r.topics, r.assistance_types, r.languages)),
                {},
                MatchPolicy(),
            ).choices
        )
        for r in requests
    }
    return sum(shapes[(r.party, tuple(r.topics))] for r in requests)


async def bench_handler(pool: asyncpg.Pool, n: int) -> float:
    """Seconds for `n` requests through the use case alone, one transaction each (inbox claim
    included), as the consumer runs it: the part of the end-to-end time that is ours."""
    catalog = Catalog.from_data_files()
    units = pg_units(pool)
    started = time.perf_counter()
    for i in range(n):
        event = request(i)
        envelope = Envelope(uuid4(), event.ce_type, "/bench", None, datetime.now(UTC), {})
        async with units() as uow:
            await uow.claim("bench", envelope.id)
            await matching.on_request_accepted(
                uow,
                envelope,
                event,
                matching=Matching(
                    catalog,
                    MatchPolicy(),
                    lambda: datetime.now(UTC),
                    timedelta(days=5),
                    timedelta(days=30),
                ),
            )
    return time.perf_counter() - started


async def prepare(cfg: stack.StackSettings) -> None:
    pool = await create_pool(cfg.db_url, max_size=2)
    try:
        # The bench stack is private: give every partner room, so capacity never shapes the result.
        await pool.execute("UPDATE matcher.partners SET capacity = 100000")
        await pool.execute("UPDATE matcher.registry_meta SET version = version + 1")
    finally:
        await pool.close()


async def bench_end_to_end(
    cfg: stack.StackSettings, n: int
) -> tuple[list[list[str]], list[Metric]]:
    pool = await create_pool(cfg.db_url, max_size=2)
    handler_only = await bench_handler(pool, n)
    for _ in range(600):  # let the relay publish those offers before measuring anew
        if not await pool.fetchval(
            "SELECT count(*) FROM matcher.outbox WHERE published_at IS NULL"
        ):
            break
        await asyncio.sleep(0.2)
    await pool.close()
    requests = [request(i) for i in range(n)]
    outs = [build_record(r, source="/bench", subject=str(r.request_id)) for r in requests]
    payload = [(o.key, o.value, [(k, v.encode()) for k, v in o.headers.items()]) for o in outs]
    offers = expected_offers(requests)
    keys = {o.key for o in outs}

    # Baseline: the same records through Kafka alone (produce, then read back).
    echo = f"bench.echo.{uuid4().hex[:6]}"
    await _writable(cfg.kafka_access(), echo, topics.PARTITIONS[topics.REQUESTS])
    consumer = AIOKafkaConsumer(echo, **cfg.kafka_access().aiokafka(), auto_offset_reset="earliest")
    await consumer.start()
    started = time.perf_counter()
    with CpuClock(cfg, None, this_process=True) as alone_cpu:
        await _produce(cfg.kafka_access(), echo, payload)
        await _consume(consumer, n, keys)
    kafka_alone = time.perf_counter() - started
    await consumer.stop()

    consumer = AIOKafkaConsumer(
        topics.ASSIGNMENTS, **cfg.kafka_access().aiokafka(), auto_offset_reset="latest"
    )
    await consumer.start()
    await consumer.getmany(timeout_ms=500)  # joined, positioned at the end
    started = time.perf_counter()
    with CpuClock(cfg, "matcher") as matcher_cpu:
        await _produce(cfg.kafka_access(), topics.REQUESTS, payload)
        await _consume(consumer, offers, keys)
    elapsed = time.perf_counter() - started
    await consumer.stop()
    alone = f"{n / kafka_alone:,.0f} records/s"
    rate = f"{offers / elapsed:,.0f} offers/s ({n / elapsed:,.0f} requests/s)"
    direct = f"{n / handler_only:,.0f} requests/s"
    rows = [
        [
            "matcher's handler + PostgreSQL, no Kafka",
            f"{n:,} req",
            f"{handler_only:.2f}",
            direct,
            "",
        ],
        [
            "Kafka alone (produce + consume)",
            f"{n:,} records",
            f"{kafka_alone:.2f}",
            alone,
            f"{alone_cpu.seconds:.2f} (bench + broker)",
        ],
        [
            "matcher (request → offers)",
            f"{n:,} req, {offers:,} offers",
            f"{elapsed:.2f}",
            rate,
            f"{matcher_cpu.seconds:.2f} (matcher + broker)",
        ],
    ]
    metrics = [
        Metric("matcher's handler + PostgreSQL", "requests/s", n / handler_only, kafka=False),
        Metric("Kafka alone (produce + consume)", "records/s", n / kafka_alone),
        Metric("matcher (request → offers)", "offers/s", offers / elapsed),
        Metric("Kafka alone, CPU of bench + broker", "records/CPU-s", n / alone_cpu.seconds),
        Metric("matcher, CPU of matcher + broker", "offers/CPU-s", offers / matcher_cpu.seconds),
    ]
    return rows, metrics


async def measure_all(cfgs: dict[bool, stack.StackSettings], n: int, rounds: int) -> Samples:
    for cfg in cfgs.values():
        await prepare(cfg)
        await bench_end_to_end(cfg, min(100, n))  # warm-up: connections, caches, the broker's JIT
    samples: Samples = {s: [] for s in cfgs}
    for r, s in schedule(list(cfgs), rounds):
        rows, metrics = await bench_end_to_end(cfgs[s], n)
        table(
            f"End to end through Kafka (one matcher process), security {mode_name(s)}, "
            f"round {r + 1}",
            ["what", "volume", "seconds", "rate", "CPU s"],
            rows,
        )
        samples[s].append(metrics)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    # 500, not the 1,000 of a single mode: both modes in about the time one took.
    parser.add_argument("--requests", type=int, default=500, help="end to end, per round")
    parser.add_argument("--rounds", type=int, default=2, help="end-to-end measurements per mode")
    parser.add_argument("--skip-cpu", action="store_true", help="skip part 1 (no Kafka in it)")
    add_security_flag(parser)
    args = parser.parse_args()
    started = time.monotonic()
    if not args.skip_cpu:
        bench_cpu()
    with bench_stacks(args.security) as cfgs:
        for secure, cfg in cfgs.items():
            stack.start_service(cfg, "matcher", log=log_for(secure))
        for cfg in cfgs.values():
            stack.wait_ready(cfg, ("matcher",), timeout=120)
        samples = asyncio.run(measure_all(cfgs, args.requests, args.rounds))
    security_table("matcher end to end", samples)
    record_results("matcher", args, samples, started)


if __name__ == "__main__":
    main()
