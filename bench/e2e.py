"""Benchmark: end to end, from `POST /v1/requests` to the first `ta.assignment.offered` webhook
of that request arriving at a partner's endpoint (issue 11).

One private stack (bench.common, the tests' harness), the three services started as the launcher
starts them, every active partner's webhook endpoint pointed at a local aiohttp receiver. The load
generator is this one process (an aiohttp client), so it measures STAX rather than itself; its
own CPU is reported next to the services'. Phases, all in one run:

  1. closed loop: `--in-flight` requests in flight for `--duration` seconds -> requests/s, and the
     CPU seconds per request of each process (intake, matcher, notifier, Kafka, PostgreSQL and
     its backends, the generator) from /proc before and after;
  2. open loop at half that throughput for `--duration` seconds -> p50/p99/p99.9 from an HDR
     histogram, each latency counted from the request's planned send time (no coordinated
     omission);
  3. raw baselines on the same stack: aiokafka produce -> consume of as many records as phase 1
     completed requests, an asyncpg INSERT + COMMIT, an aiohttp echo round trip; each as ops/s,
     and the ratio end-to-end / raw;
  4. the scaling curve: closed-loop throughput with 1, 2, 3 instances of each service
     (`--instances`), extra instances started with the launcher's environment on ports of their
     own, joining the same consumer groups;
  5. tracing's cost (`--tracing compare`, issue 15): one instance of each service restarted with
     every trace sampled and exported over OTLP/HTTP to a local receiver, and the closed loop
     again: throughput and CPU per request against phase 1 (bench.e2e_tracing);
  6. the design floor (`--floor on`, the default): STAX's services stopped, three processes
     making a request's hops (its records, consumptions, deliveries and the writes that make
     them safe) with nothing of STAX in them, driven by the same generator in a closed loop:
     throughput and CPU per request against phase 1 (bench.e2e_floor).

Results: bench/results/e2e-<timestamp>.json and three PNGs next to it (throughput by instances,
latency CDF, CPU per request by process).

    STAX_BENCH_PORT_BASE=28000 python -m bench.e2e [--duration S] [--in-flight N]
        [--instances 1,2,3] [--security on|off] [--tracing off|compare] [--floor on|off]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import asyncpg
from aiohttp import ClientSession

from bench import e2e_baselines as raw
from bench import e2e_floor, e2e_report
from bench import e2e_infra as infra
from bench.common import RESULTS, bench_stack
from bench.e2e_load import Load, generator_session
from bench.e2e_stats import (
    batch_fill,
    cpu_per_request,
    latency_summary,
    parse_instances,
    plots,
)
from bench.e2e_tracing import tracing_cost
from deploy.local import stack
from services.matcher.domain.partners import MAX_CAPACITY
from shared import auth

# Flame graphs of a --profile run, renamed after the run's results file once it is written.
FLAMES = RESULTS / "e2e-flame"

# The local PostgreSQL takes 200 connections (deploy/local/postgres.py): three services' pools
# (one instance each; more instances queue on smaller shares of the same load) and the raw
# baseline's stay within it however many requests are in flight; past this a request waits for
# a pooled connection, as it would in production.
MAX_POOL = 48
RAW_CONNECTIONS = 32

SERVICE_ENV = {
    # One submitter key sends everything: a budget it cannot reach, still checked each request.
    "STAX_RATE_LIMIT": "1000000/second",
    "STAX_LOG_LEVEL": "WARNING",
}


async def _keys(cfg: stack.StackSettings) -> tuple[str, str]:
    conn = await asyncpg.connect(cfg.db_url)
    try:
        _, submitter = await auth.create_key(conn, role="submitter", name="bench-e2e")
        _, operator = await auth.create_key(conn, role="operator", name="bench-e2e-operator")
        # The stack is private: every partner gets room (as in bench.matcher), else the seeded
        # capacities fill within seconds and requests end unmatched, with no offer to wait for.
        # operator_edited: an instance started later does not seed the capacity back.
        await conn.execute(
            "UPDATE matcher.partners SET capacity = $1, operator_edited = true", MAX_CAPACITY
        )
    finally:
        await conn.close()
    return submitter, operator


async def _subscribe(http: ClientSession, cfg: stack.StackSettings, operator: str, url: str) -> int:
    """Every active partner's webhook endpoint -> the receiver (as the demo does)."""
    bearer = {"Authorization": f"Bearer {operator}"}
    base = "http://127.0.0.1:{}"
    async with http.get(
        base.format(cfg.matcher_port) + "/v1/partners?active=true", headers=bearer
    ) as answer:
        partners = [p["partner_id"] for p in (await answer.json())["partners"]]
    for partner in partners:
        async with http.post(
            base.format(cfg.notifier_port) + f"/v1/partners/{partner}/endpoints",
            json={"url": url},
            headers=bearer,
        ) as answer:
            answer.raise_for_status()
    return len(partners)


async def _scaling(
    cfg: stack.StackSettings,
    load: Load,
    instances: infra.Instances,
    counts: list[int],
    *,
    args: argparse.Namespace,
    first: dict[str, Any],
) -> list[dict[str, Any]]:
    """Closed-loop throughput, CPU and statements per request (every instance of a service
    summed) with each count of instances; 1 is the run's first phase (`first`, its results)."""
    scaling: list[dict[str, Any]] = [
        {
            "instances": 1,
            "requests_per_s": first["closed_loop"]["requests_per_s"],
            "cpu_ms_per_request": first["cpu_ms_per_request"],
            "statements_per_request": first.get("statements_per_request", []),
        }
    ]
    for count in (c for c in counts if c > 1):
        print(f"  scaling: {count} instances of each service")
        await asyncio.to_thread(instances.scale, count)
        load.target(instances.intake_urls())
        await load.closed(3.0, args.in_flight)  # warm-up: partitions rebalance
        counting = await infra.reset_statements(cfg)
        before = infra.cpu_seconds(cfg, instances)
        n, secs, _ = await load.closed(args.scale_duration, args.in_flight)
        cpu = cpu_per_request(before, infra.cpu_seconds(cfg, instances), n)
        scaling.append(
            {
                "instances": count,
                "requests_per_s": round(n / secs, 2),
                "cpu_ms_per_request": {k: round(v, 2) for k, v in cpu.items()},
                # Which statements more instances multiply (a query run for nothing, say).
                "statements_per_request": (
                    await infra.statements_per_request(cfg, n) if counting else []
                ),
            }
        )
    return [s for s in scaling if s["instances"] in counts]


async def _closed_loop(
    cfg: stack.StackSettings, args: argparse.Namespace, load: Load, instances: infra.Instances
) -> dict[str, Any]:
    """Phase 1: throughput, CPU, work and statements per request (and flame graphs)."""
    print(f"  closed loop, {args.in_flight} in flight, {args.duration:.0f}s")
    spies = infra.profile(instances, args.duration, FLAMES) if args.profile else []
    counting = await infra.reset_statements(cfg)
    consumed = await infra.consumer_counts(load.http, instances)
    before = infra.cpu_seconds(cfg, instances)
    done, elapsed, closed_lat = await load.closed(args.duration, args.in_flight)
    after = infra.cpu_seconds(cfg, instances)
    fill = batch_fill(consumed, await infra.consumer_counts(load.http, instances), done)
    for spy in spies:
        await asyncio.to_thread(spy.wait)
    cpu = cpu_per_request(before, after, done)
    results: dict[str, Any] = {
        "closed_loop": {
            "in_flight": args.in_flight,
            "seconds": round(elapsed, 2),
            "completed": done,
            "requests_per_s": round(done / elapsed, 2),
            "latency": latency_summary(closed_lat),
        },
        "cpu_ms_per_request": {k: round(v, 2) for k, v in cpu.items()},
        "work_per_request": await infra.work_per_request(cfg),
        "batches": fill,
    }
    if counting:
        results["statements_per_request"] = await infra.statements_per_request(cfg, done)
    return results


async def _bench(cfg: stack.StackSettings, args: argparse.Namespace) -> dict[str, Any]:
    port_base = cfg.intake_port - 1
    counts = parse_instances(args.instances)
    mail = infra.MailSink().start()
    env = {
        **SERVICE_ENV,
        "STAX_DB_POOL_SIZE": str(min(args.in_flight + 6, MAX_POOL)),
        "STAX_NOTIFIER_SMTP_PORT": str(mail.port),
    }
    instances = infra.Instances(cfg, env, port_base)
    receiver = infra.Receiver()
    results: dict[str, Any] = {}
    latencies: list[float] = []
    try:
        await asyncio.to_thread(instances.scale, 1)
        url = await receiver.start()
        submitter, operator = await _keys(cfg)
        async with generator_session() as http:
            partners = await _subscribe(http, cfg, operator, url)
            print(f"  receiver {url} subscribed for {partners} partners")
            load = Load(http, receiver, submitter)
            load.target(instances.intake_urls())
            # Warm-up: in its first minute under load the broker's JVM spends more CPU compiling
            # (C2 compiler threads) than serving; measured cold, Kafka's share is tripled.
            print(f"  warm-up, {args.warm_up:.0f}s")
            await load.closed(args.warm_up, args.in_flight)

            results |= await _closed_loop(cfg, args, load, instances)
            done = results["closed_loop"]["completed"]
            throughput = results["closed_loop"]["requests_per_s"]

            rate = args.open_rate or throughput / 2
            print(f"  open loop at {rate:.1f} requests/s, {args.duration:.0f}s")
            consumed = await infra.consumer_counts(http, instances)
            before = infra.cpu_seconds(cfg, instances)
            latencies = await load.open(rate, args.duration)
            # At a rate both sides of a comparison can be given (--open-rate), the CPU a request
            # costs does not depend on the throughput the closed loop happened to reach.
            open_cpu = cpu_per_request(before, infra.cpu_seconds(cfg, instances), len(latencies))
            results["open_loop"] = {
                "rate_per_s": round(rate, 2),
                **latency_summary(latencies),
                "cpu_ms_per_request": open_cpu,
                "batches": batch_fill(
                    consumed, await infra.consumer_counts(http, instances), len(latencies)
                ),
            }

            print("  raw baselines")
            results["raw"] = {
                "kafka_records_per_s": round(await raw.raw_kafka(cfg, max(done, 500)), 1),
                "postgres_tx_per_s": round(
                    await raw.raw_postgres(cfg, 3.0, min(args.in_flight, RAW_CONNECTIONS)), 1
                ),
                "http_echo_per_s": round(await raw.raw_http(3.0, args.in_flight), 1),
            }

            results["scaling"] = await _scaling(
                cfg, load, instances, counts, args=args, first=results
            )
            if args.tracing == "compare":
                results["tracing_on"] = await tracing_cost(
                    cfg,
                    instances,
                    load.closed,
                    lambda: load.target(instances.intake_urls()),
                    duration=args.duration,
                    warm_up=min(args.warm_up, 15.0),
                    in_flight=args.in_flight,
                )
            results["failed_requests"] = load.failed
            if args.floor == "on":
                results["floor"] = await _floor(
                    cfg, args, http=http, receiver=receiver, mail=mail, instances=instances
                )
            results["webhooks_received"] = receiver.webhooks
            results["emails_received"] = mail.received
    finally:
        await receiver.stop()
        mail.stop()
        await asyncio.to_thread(instances.stop)
    results["_latencies"] = latencies
    return results


async def _floor(
    cfg: stack.StackSettings,
    args: argparse.Namespace,
    *,
    http: ClientSession,
    receiver: infra.Receiver,
    mail: infra.MailSink,
    instances: infra.Instances,
) -> dict[str, Any]:
    """Phase 6: the design floor (bench.e2e_floor), with STAX's services stopped so that Kafka's
    and PostgreSQL's CPU is the floor's alone."""
    print("  design floor: the same hops with nothing of STAX")
    await asyncio.to_thread(instances.stop)
    load = Load(http, receiver, "floor")
    floor = await e2e_floor.measure(
        cfg,
        http,
        load=load,
        webhook_url=receiver.url,
        smtp_port=mail.port,
        plan=e2e_floor.Plan(
            seconds=args.duration, warm_up=min(args.warm_up, 15.0), in_flight=args.in_flight
        ),
    )
    return floor | {"failed_requests": load.failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument(
        "--scale-duration", type=float, default=12.0, help="seconds per scaling point"
    )
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument(
        "--open-rate",
        type=float,
        default=0.0,
        help="open-loop requests/s (default: half the closed-loop throughput)",
    )
    parser.add_argument(
        "--warm-up", type=float, default=45.0, help="seconds of closed loop before measuring"
    )
    parser.add_argument("--instances", default="1,2,3", help="scaling curve, e.g. 1,2,3")
    parser.add_argument("--security", choices=("on", "off"), default="on")
    parser.add_argument(
        "--tracing",
        choices=("off", "compare"),
        default="compare",
        help="compare: a last phase with tracing on (OTLP to a local receiver), set against the "
        "untraced closed loop of the same run",
    )
    parser.add_argument(
        "--floor",
        choices=("on", "off"),
        default="on",
        help="on: a last phase with the design floor (bench.e2e_floor), the same hops with "
        "nothing of STAX, driven by the same generator",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy flame graphs of each service during the closed loop (costs them CPU)",
    )
    args = parser.parse_args()
    parse_instances(args.instances)
    started = time.monotonic()
    with bench_stack(secure=args.security == "on") as cfg:
        results = asyncio.run(_bench(cfg, args))
    latencies = results.pop("_latencies")
    e2e_report.report(results)
    path = e2e_report.write(results, vars(args), started)
    written = plots(json.loads(path.read_text()), latencies, path.with_suffix(""))
    for flame in sorted(RESULTS.glob(f"{FLAMES.name}-*.svg")):
        written.append(flame.rename(path.with_name(f"{path.stem}-{flame.name[4:]}")))
    for p in [path, *written]:
        print(f"  results: {p.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
