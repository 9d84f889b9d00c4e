"""The end-to-end benchmark's design floor (issue 11): what a request's hops cost with nothing of
STAX in them, measured on the same stack, by the same load generator, in the same run.

A request makes 6 Kafka records (1 by intake, 2 by matcher, 3 by notifier), 10 consumptions of
them (intake reads all 6, matcher the first, notifier the first 3), 3 deliveries (an e-mail and
two signed webhooks) and the PostgreSQL writes that make each of those safe against a crash (a
transactional outbox, an inbox claim, deliveries recorded before they are made). Three processes
of bench.floor_worker make exactly those hops, over the same broker (TLS + SCRAM), database,
receiver and SMTP sink, and the generator drives them as it drives STAX: POST /v1/requests, then
wait for the first offer webhook. Set against phase 1, this says how much of STAX's CPU a request
is the hops themselves and how much is STAX's own code; and, if the floor alone is above a CPU
target, that no code change reaches the target without fewer hops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import ClientSession

from bench import e2e_infra as infra
from bench import e2e_report
from bench.common import RESULTS, bench_stack, table
from bench.e2e_load import Load, generator_session
from bench.e2e_stats import cpu_per_request, in_generator_units, service_cpu
from bench.floor_worker import READS, SCHEMA, TOPICS
from deploy.local import stack
from shared.kafka import ensure_topics

FLOOR_LINE = "a request's hops with nothing of STAX in them"
# The workers listen on STAX_BENCH_PORT_BASE + 80 + 0, 1, 2 (extra STAX instances use + 40..).
PORT_OFFSET = 80
ROLES = tuple(READS)


@contextmanager
def workers(
    cfg: stack.StackSettings, port_base: int, webhook_url: str, smtp_port: int, plan: Plan
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """The three floor processes, stopped when the block ends."""
    env = {
        "FLOOR_KAFKA": json.dumps(asdict(cfg.kafka_access())),
        "FLOOR_DB": cfg.db_url,
        "FLOOR_WEBHOOK_URL": webhook_url,
        "FLOOR_SMTP_PORT": str(smtp_port),
        "FLOOR_GATHER_MS": str(plan.gather_ms),
        "FLOOR_OUTCOMES": "on" if plan.outcomes else "off",
    }
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for n, role in enumerate(ROLES):
            port = {"FLOOR_PORT": str(port_base + n)}
            children[role] = infra.start_module(
                cfg, f"floor-{role}", "bench.floor_worker", {**os.environ, **env, **port}, role
            )
        yield children
    finally:
        for child in children.values():
            infra.stop_process(child, timeout=10.0)


async def prepare(cfg: stack.StackSettings) -> None:
    """The floor's own topics and tables (schema bench_floor), beside STAX's."""
    await ensure_topics(cfg.kafka_access(), TOPICS)
    conn = await asyncpg.connect(cfg.db_url)
    try:
        await conn.execute(SCHEMA)
    finally:
        await conn.close()


async def counts(http: ClientSession, urls: dict[str, str]) -> dict[str, dict[str, int]]:
    """Each worker's counts of work done so far (bench.floor_worker.Counts)."""

    async def one(url: str) -> dict[str, int]:
        async with http.get(f"{url}/stats") as answer:
            answer.raise_for_status()
            got: dict[str, int] = await answer.json()
            return got

    return dict(zip(urls, await asyncio.gather(*map(one, urls.values())), strict=True))


# What one request costs when all its hops are done: notifier makes three deliveries.
DELIVERIES = 3
DRAIN_TIMEOUT = 120.0


async def drained(http: ClientSession, urls: dict[str, str], consumed_by_intake: int) -> float:
    """Waits until every request accepted so far has made all its hops; returns the seconds
    it took. The generator waits only for the first offer webhook, so under load the rest (the
    e-mail, the outcomes, intake's reads of them) can fall behind; CPU is read once it has
    caught up, so that it is every hop's, not some."""
    started = time.monotonic()
    while True:
        now = await counts(http, urls)
        accepted = now["intake"]["requests"]
        if (
            now["intake"]["records_consumed"] >= consumed_by_intake * accepted
            and now["notifier"]["deliveries"] >= DELIVERIES * accepted
        ):
            return time.monotonic() - started
        if time.monotonic() - started > DRAIN_TIMEOUT:
            raise RuntimeError(f"the floor did not catch up in {DRAIN_TIMEOUT:.0f}s: {now}")
        await asyncio.sleep(0.2)


def work_per_request(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], requests: int
) -> dict[str, float]:
    """'<role> <count>' -> that count's growth per request between two readings."""
    n = max(1, requests)
    return {
        f"{role} {name}": round((value - before[role].get(name, 0)) / n, 2)
        for role, values in after.items()
        for name, value in values.items()
    }


@dataclass(frozen=True)
class Plan:
    """How the floor is driven: closed-loop rounds of `seconds` after a `warm_up`, and how long
    its hops may wait to gather records (0: they do not; see bench.floor_worker)."""

    seconds: float
    warm_up: float
    in_flight: int
    rounds: int = 1
    gather_ms: int = 0
    outcomes: bool = True  # False: no outcome record per delivery (bench.floor_worker)

    @property
    def consumed_by_intake(self) -> int:
        """Records intake reads per request: its own, two offers, and the three outcomes."""
        return 6 if self.outcomes else 3


async def measure(
    cfg: stack.StackSettings,
    http: ClientSession,
    *,
    load: Load,
    webhook_url: str,
    smtp_port: int,
    plan: Plan,
) -> dict[str, Any]:
    """The median of `plan.rounds` rounds (and every round): closed-loop throughput, CPU and
    work per request of the floor's three processes (named after the services they stand for),
    Kafka, PostgreSQL and the generator."""
    await prepare(cfg)
    port_base = cfg.intake_port - 1 + PORT_OFFSET
    urls = {role: f"http://127.0.0.1:{port_base + n}" for n, role in enumerate(ROLES)}
    with workers(cfg, port_base, webhook_url, smtp_port, plan) as children:
        for role, child in children.items():
            await asyncio.to_thread(infra.wait_http, f"{urls[role]}/ready", child, f"floor {role}")
        load.target([urls["intake"]])
        await load.closed(plan.warm_up, plan.in_flight)
        await drained(http, urls, plan.consumed_by_intake)
        probe = Probe(cfg, http, urls, {role: [child.pid] for role, child in children.items()})
        rounds = []
        for n in range(plan.rounds):
            rounds.append(await probe.round(load, plan))
            cpu = service_cpu(rounds[-1]["cpu_ms_per_request"])
            print(f"  floor round {n + 1}: {rounds[-1]['requests_per_s']} requests/s, {cpu:.1f} ms")
    chosen = {"gather_ms": plan.gather_ms, "outcomes": plan.outcomes}
    return median_round(rounds) | chosen | {"rounds": rounds}


@dataclass(frozen=True)
class Probe:
    """Reads what the floor's processes, Kafka and PostgreSQL have done and spent."""

    cfg: stack.StackSettings
    http: ClientSession
    urls: dict[str, str]
    groups: dict[str, list[int]]

    async def round(self, load: Load, plan: Plan) -> dict[str, Any]:
        """One closed loop, its CPU read once every hop of its requests is done."""
        work_before = await counts(self.http, self.urls)
        before = infra.cpu_of(self.cfg, self.groups)
        done, elapsed, _ = await load.closed(plan.seconds, plan.in_flight)
        drain = await drained(self.http, self.urls, plan.consumed_by_intake)
        after = infra.cpu_of(self.cfg, self.groups)
        work_after = await counts(self.http, self.urls)
        accepted = work_after["intake"]["requests"] - work_before["intake"]["requests"]
        cpu = cpu_per_request(before, after, accepted)
        return {
            "requests_per_s": round(done / elapsed, 2) if elapsed else 0.0,
            "completed": done,
            "accepted": accepted,
            # How long the hops the generator does not wait for took to catch up after the loop.
            "drain_s": round(drain, 2),
            "cpu_ms_per_request": {k: round(v, 2) for k, v in cpu.items()},
            "work_per_request": work_per_request(work_before, work_after, accepted),
        }


def median_round(rounds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The round whose CPU a request (the stack's, all processes but the generator) is the
    median; of an even number, the lower of the middle two."""
    ordered = sorted(rounds, key=lambda r: service_cpu(r["cpu_ms_per_request"]))
    return dict(ordered[(len(ordered) - 1) // 2])


# ----------------------------------------------------------------------------- on its own


def main() -> None:
    parser = argparse.ArgumentParser(description="The design floor alone: " + FLOOR_LINE)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per round")
    parser.add_argument(
        "--warm-up", type=float, default=45.0, help="seconds before the first (the JVM warms up)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--security", choices=("on", "off"), default="on")
    parser.add_argument(
        "--gather-ms", type=int, default=0, help="how long each hop may wait to gather records"
    )
    parser.add_argument(
        "--outcomes",
        choices=("on", "off"),
        default="on",
        help="off: no outcome record per delivery, as a design without them would be",
    )
    args = parser.parse_args()
    if not 1 <= args.rounds <= 20 or not 0 <= args.gather_ms <= 1000:
        raise SystemExit("--rounds must be 1..20 and --gather-ms 0..1000")
    started = time.monotonic()
    with bench_stack(secure=args.security == "on") as cfg:
        results = asyncio.run(_alone(cfg, args))
    _report(results)
    path = _write(results, vars(args), started)
    print(f"  results: {path.relative_to(RESULTS.parent.parent)}")


async def _alone(cfg: stack.StackSettings, args: argparse.Namespace) -> dict[str, Any]:
    mail = infra.MailSink().start()
    receiver = infra.Receiver()
    try:
        url = await receiver.start()
        async with generator_session() as http:
            load = Load(http, receiver, "floor")
            plan = Plan(
                args.duration,
                args.warm_up,
                args.in_flight,
                args.rounds,
                args.gather_ms,
                outcomes=args.outcomes == "on",
            )
            results = await measure(
                cfg, http, load=load, webhook_url=url, smtp_port=mail.port, plan=plan
            )
            return results | {"failed_requests": load.failed}
    finally:
        await receiver.stop()
        mail.stop()


def _report(results: dict[str, Any]) -> None:
    rows = [
        [
            str(n + 1),
            f"{r['requests_per_s']:.1f}",
            f"{service_cpu(r['cpu_ms_per_request']):.1f}",
            f"{in_generator_units(r['cpu_ms_per_request']) or 0:.2f}",
            " ".join(f"{k} {v:.1f}" for k, v in r["cpu_ms_per_request"].items()),
            f"{r['drain_s']:.1f}",
        ]
        for n, r in enumerate(results["rounds"])
    ]
    table(
        f"design floor, closed loop, gathering {results['gather_ms']} ms, outcome records "
        f"{'on' if results['outcomes'] else 'off'}: {FLOOR_LINE}",
        ["round", "requests/s", "CPU ms/request", "in generator units", "by process", "drain s"],
        rows,
    )
    median = service_cpu(results["cpu_ms_per_request"])
    print(
        f"\n  median round: {median:.1f} ms of CPU a request, all processes but the generator "
        f"(bench-e2e sets the floor against STAX in one run); failed requests: "
        f"{results['failed_requests']}; load average "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    table(
        "work per request, median round",
        ["process and count", "per request"],
        [[k, f"{v:.2f}"] for k, v in results["work_per_request"].items() if v],
    )


def _write(results: dict[str, Any], args: dict[str, Any], started: float) -> Path:
    """bench/results/floor-<timestamp>.json: the arguments, the commit, every round."""
    return e2e_report.write_json("floor", results, args, started)


if __name__ == "__main__":
    main()
