"""The end-to-end benchmark's moving parts: extra service instances, CPU clocks read from
/proc, the webhook receiver (aiohttp), and the raw baselines (aiokafka, asyncpg, HTTP echo)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import ClientSession, web
from aiosmtpd.controller import Controller
from prometheus_client.parser import text_string_to_metric_families

from bench.e2e_stats import GENERATOR, consumed
from deploy.local import kafka, postgres, processes, stack
from shared.events import AssignmentOffered

EXTRA_PORTS = 40  # extra instances listen on STAX_BENCH_PORT_BASE + 40 + ...


# ----------------------------------------------------------------------------- instances


class Instances:
    """Instance 1 of each service is the launcher's (stack.start_service); instances 2.. are
    started here the same way (stack.service_env, `python -m services.<name>`) on ports of
    their own, in the same consumer groups."""

    def __init__(self, cfg: stack.StackSettings, env: dict[str, str], port_base: int) -> None:
        self.cfg, self.env, self.port_base = cfg, env, port_base
        self.extra: dict[tuple[str, int], subprocess.Popen[bytes]] = {}

    def port(self, service: str, n: int) -> int:
        if n == 1:
            return self.cfg.port_of(service)
        return self.port_base + EXTRA_PORTS + 10 * stack.SERVICES.index(service) + n

    def pids(self, service: str) -> list[int]:
        first = stack.service_pid(self.cfg, service)
        rest = [p.pid for (s, _), p in self.extra.items() if s == service and p.poll() is None]
        return ([first] if first else []) + rest

    def urls(self, service: str) -> list[str]:
        numbers = [1, *sorted(n for s, n in self.extra if s == service)]
        return [f"http://127.0.0.1:{self.port(service, n)}" for n in numbers]

    def intake_urls(self) -> list[str]:
        return self.urls("intake")

    def scale(self, count: int) -> None:
        for service in stack.SERVICES:
            stack.start_service(self.cfg, service, log=_log, extra_env=self.env)
            for n in range(2, count + 1):
                if (service, n) not in self.extra:
                    self._start(service, n)
        stack.wait_ready(self.cfg, timeout=120)
        for (service, n), child in self.extra.items():
            wait_http(f"http://127.0.0.1:{self.port(service, n)}/readyz", child, service)

    def _start(self, service: str, n: int) -> None:
        port = self.port(service, n)
        env = stack.service_env(
            self.cfg, service, {**self.env, f"STAX_{service.upper()}_PORT": str(port)}
        )
        self.extra[(service, n)] = start_module(
            self.cfg, f"{service}-{n}", f"services.{service}", env
        )
        _log(f"{service:9} instance {n} started (pid {self.extra[(service, n)].pid}, port {port})")

    def restart_with(self, env: dict[str, str]) -> None:
        """Every instance stopped, then one of each service started with `env`."""
        self.stop()
        self.env = env
        self.scale(1)

    def stop(self) -> None:
        for child in self.extra.values():
            stop_process(child, timeout=20.0)
        self.extra.clear()
        for service in reversed(stack.SERVICES):
            stack.stop_service(self.cfg, service, log=_log)


def start_module(
    cfg: stack.StackSettings, log_name: str, module: str, env: dict[str, str], *args: str
) -> subprocess.Popen[bytes]:
    """`python -m module args` from the repository, in a session of its own, its output
    appended to the stack's logs/<log_name>.log."""
    log = cfg.log_file(log_name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=stack.REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_process(child: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds (deploy.local.processes), and reaped."""
    processes.terminate(child.pid, timeout=timeout)
    child.wait(timeout=5)


def _log(line: str) -> None:
    print(f"  [stack] {line}", flush=True)


def wait_http(url: str, child: subprocess.Popen[bytes], name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise stack.StackError(f"{name} (pid {child.pid}) exited; see its log")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise stack.StackError(f"{url} not ready after {timeout:.0f}s")


# ----------------------------------------------------------------------------- CPU


def _ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


def process_cpu_seconds(pid: int) -> float:
    return _ticks(pid) / os.sysconf("SC_CLK_TCK")


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
            if ppid == parent:
                found.append(int(entry.name))
    return found


def cpu_seconds(cfg: stack.StackSettings, instances: Instances) -> dict[str, float]:
    """CPU seconds so far of each process group: the services (all instances), Kafka, and
    PostgreSQL (the postmaster and its backends alive now), and this load generator."""
    return cpu_of(cfg, {s: instances.pids(s) for s in stack.SERVICES})


def cpu_of(cfg: stack.StackSettings, named: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of each group of processes `named`, Kafka, PostgreSQL (the postmaster
    and its backends alive now), and this load generator."""
    tick = os.sysconf("SC_CLK_TCK")
    groups = dict(named)
    groups["kafka"] = [p for p in [kafka.running_pid(cfg.kafka)] if p]
    pg = postgres.pid(cfg.postgres)
    groups["postgres"] = [pg, *_children(pg)] if pg else []
    out = {name: sum(map(_ticks, pids)) / tick for name, pids in groups.items()}
    out[GENERATOR] = time.process_time()
    return out


async def consumer_counts(http: ClientSession, instances: Instances) -> dict[str, list[float]]:
    """Records and batches each subscriber has consumed so far, every instance's /metrics
    summed (bench.e2e_stats.consumed)."""

    async def text(url: str) -> str:
        async with http.get(f"{url}/metrics") as response:
            response.raise_for_status()
            return await response.text()

    urls = [url for service in stack.SERVICES for url in instances.urls(service)]
    pages = await asyncio.gather(*map(text, urls))
    return consumed(
        (sample.name, sample.labels, sample.value)
        for page in pages
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    )


# ----------------------------------------------------------------------------- profiles


def profile(instances: Instances, seconds: float, out: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy flame graphs (SVG) of instance 1 of each service for `seconds`, written to
    `out`-<service>.svg. Threads that are idle (waiting in the kernel) are left out, so it
    shows CPU, not waiting. Not `--gil`: on two busy cores a thread preempted inside a system
    call still holds the GIL, and those samples land on whatever line made the call. py-spy
    reads the processes' memory (ptrace): it needs the right to, and it costs them some CPU."""
    spy = str(Path(sys.executable).with_name("py-spy"))
    out.parent.mkdir(parents=True, exist_ok=True)
    spies = []
    for service in stack.SERVICES:
        pid = str(instances.pids(service)[0])
        command = [spy, "record", "--nonblocking", "--rate", "100", "--pid", pid]
        command += ["--duration", str(int(seconds)), "--format", "flamegraph"]
        command += ["--output", f"{out}-{service}.svg"]
        spies.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    return spies


# ----------------------------------------------------------------------------- work done


async def work_per_request(cfg: stack.StackSettings) -> dict[str, float]:
    """What one request costs in records and deliveries, averaged over every request so far:
    Kafka records each service's outbox sent, by topic, and notifier's deliveries by channel.
    It explains the CPU per request: each of these is a transaction and a Kafka hop."""
    conn = await asyncpg.connect(cfg.db_url)
    try:
        requests = max(1, await conn.fetchval("SELECT count(*) FROM intake.requests"))
        out: dict[str, float] = {}
        for schema in ("intake", "matcher", "notifier"):
            rows = await conn.fetch(
                f"SELECT topic, count(*) AS n FROM {schema}.outbox GROUP BY topic ORDER BY topic"
            )
            out |= {f"{schema} -> {r['topic']}": r["n"] / requests for r in rows}
        rows = await conn.fetch(
            "SELECT (endpoint_id IS NULL) AS email, count(*) AS n FROM notifier.deliveries "
            "GROUP BY 1 ORDER BY 1"
        )
        for r in rows:
            out[f"deliveries ({'e-mail' if r['email'] else 'webhook'})"] = r["n"] / requests
        out |= await _database_work(conn, requests)
    finally:
        await conn.close()
    return {k: round(v, 2) for k, v in out.items()}


async def _database_work(conn: asyncpg.Connection, requests: int) -> dict[str, float]:
    """Transactions committed, and rows written per table (the busiest), per request."""
    # The statistics collector reports with a delay; forcing it makes the counts current.
    await conn.execute("SELECT pg_stat_force_next_flush()")
    commits = await conn.fetchval(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    )
    rows = await conn.fetch(
        "SELECT schemaname || '.' || relname AS t, n_tup_ins + n_tup_upd + n_tup_del AS n "
        "FROM pg_stat_user_tables ORDER BY n DESC LIMIT 8"
    )
    out = {"PostgreSQL transactions": commits / requests}
    out |= {f"rows written: {r['t']}": r["n"] / requests for r in rows if r["n"]}
    return out


async def reset_statements(cfg: stack.StackSettings) -> bool:
    """Starts counting statements afresh; False where pg_stat_statements is not preloaded
    (a server given by STAX_DATABASE_URL, say)."""
    conn = await asyncpg.connect(cfg.db_url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
    except asyncpg.PostgresError:
        return False
    finally:
        await conn.close()
    return True


async def statements_per_request(cfg: stack.StackSettings, requests: int) -> list[dict[str, Any]]:
    """The statements run since `reset_statements`, most frequent first: calls and rows per
    request, and mean time. Each call is a round trip the services wait for, and PostgreSQL's
    CPU per request is mostly parsing, planning and running these."""
    conn = await asyncpg.connect(cfg.db_url)
    try:
        rows = await conn.fetch(
            "SELECT query, calls, rows, mean_exec_time FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY calls DESC LIMIT 30"
        )
    finally:
        await conn.close()
    n = max(1, requests)
    return [
        {
            "calls": round(r["calls"] / n, 2),
            "rows": round(r["rows"] / n, 2),
            "mean_ms": round(r["mean_exec_time"], 3),
            "query": " ".join(r["query"].split())[:160],
        }
        for r in rows
    ]


# ----------------------------------------------------------------------------- receivers


class MailSink:
    """The partners' and Parties' SMTP server (aiosmtpd, in a thread of this process): without
    one every e-mail fails and is retried, and the run measures retries, not deliveries."""

    def __init__(self) -> None:
        self.received = 0
        self._controller = Controller(self, hostname="127.0.0.1", port=_free_port())

    @property
    def port(self) -> int:
        return int(self._controller.port)

    async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:  # noqa: N802
        self.received += 1
        return "250 OK"

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """Partners' webhook endpoint: notes when the first `ta.assignment.offered` of each
    request arrives (no signature check: the light end of the wire is the point here)."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.webhooks = 0
        self.port = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/webhooks", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{self.port}/webhooks"
        return self.url

    def expect(self, request_id: str) -> asyncio.Future[float]:
        future = self.waiting.get(request_id)
        if future is None:
            future = self.waiting[request_id] = asyncio.get_running_loop().create_future()
        return future

    async def _post(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        self.webhooks += 1
        if body.get("type") == AssignmentOffered.ce_type:
            future = self.expect(str(body["data"]["request_id"]))
            if not future.done():
                future.set_result(time.perf_counter())
        return web.Response(status=204)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
