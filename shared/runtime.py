"""What every service process runs besides its own use cases: pool, migrations, broker, relay.

`service_runtime` is used by each service's composition root (`app.py`) inside its lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import uvicorn
from faststream.kafka import KafkaBroker
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from shared.auth import Authenticator
from shared.db import create_pool
from shared.kafka import publish_all
from shared.logs import configure_logging
from shared.migrator import ServiceMigrations
from shared.outbox import Outbox, OutboxRelay, Relayed
from shared.retention import Pruner, run_pruner
from shared.sampling import SAMPLE_SECONDS, OutboxBacklog, sample_every
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

# How long closing the Kafka clients may take when the service stops. A clean close (leave the
# groups, close the connections) takes a fraction of a second. aiokafka then waits for the broker
# to answer each connection's TLS close, and a broker that reads that close in one go with a
# request still queued on the connection (a second fetch, an offset or metadata look-up behind a
# long-polling fetch: usual just after a rebalance, or every metadata refresh) serves the request
# and never the close: the wait lasted until asyncio's TLS shutdown timeout, 30 s, past the
# launcher's 20 s and Kubernetes' 30 s grace. Waiting longer than this is waiting for that.
KAFKA_CLOSE_SECONDS = 2.0
# On SIGTERM, HTTP requests in progress get this long to finish before their connections are
# closed; with the Kafka limit above (and, in notifier, its workers' 4 s to finish their sends
# and its mailer's 2 s QUITs), a stop stays inside the launcher's 20 s and Kubernetes' 30 s
# grace period (uvicorn would otherwise wait for the slowest client for ever).
HTTP_DRAIN_SECONDS = 10


@dataclass
class Runtime:
    """The live adapters of one service process, handed to its wiring code."""

    settings: ServiceSettings
    pool: asyncpg.Pool
    broker: KafkaBroker
    outbox: Outbox
    relay: OutboxRelay
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def authenticator(self) -> Authenticator:
        return Authenticator(self.pool)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task of the process, cancelled when it stops (after anything the service waits
        for first, such as notifier's workers finishing their sends)."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.append(task)
        return task

    async def db_ready(self) -> bool:
        return bool(await self.pool.fetchval("SELECT 1"))

    async def kafka_ready(self) -> bool:
        return await self.broker.ping(timeout=2.0)

    def checks(self) -> dict[str, Callable[[], Coroutine[Any, Any, bool]]]:
        return {"database": self.db_ready, "kafka": self.kafka_ready}


async def migrate(pool: asyncpg.Pool, migrations: ServiceMigrations) -> None:
    async with pool.acquire() as conn:
        for component, names in (await migrations.apply(conn)).items():
            for name in names:
                log.info("applied migration %s/%s", component, name)


async def start_broker(broker: KafkaBroker) -> None:
    """Start consuming; waits (with back-off) while Kafka is not reachable yet."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(Exception), wait=wait_exponential(multiplier=0.5, max=10)
    ):
        with attempt:
            await start_together(broker)


class Startable(Protocol):
    async def start(self) -> None: ...


class Member(Startable, Protocol):
    async def stop(self) -> None: ...


class Subscribing(Protocol):
    """What `start_together` uses of a FastStream broker."""

    running: bool

    @property
    def subscribers(self) -> Sequence[Member]: ...
    @property
    def publishers(self) -> Sequence[Startable]: ...
    async def connect(self) -> Any: ...


async def start_together(broker: Subscribing) -> None:
    """What FastStream's `broker.start()` does, but with the subscribers started at once, not one
    after another. Starting a consumer that has a group returns once the group has given it its
    partitions, and each member joining a group makes it rebalance, which waits for the members
    already in it to hear of it at their next heartbeat (`shared.consuming.HEARTBEAT_MS`). One by
    one, every consumer of a service's group cost a rebalance and that wait (intake's three: two
    waits of 3 s, aiokafka's default heartbeat, in each start, and three pauses of every
    instance's consumers); together, they join in the same round, or two."""
    await broker.connect()
    subscribers = list(broker.subscribers)
    try:
        async with asyncio.TaskGroup() as starting:
            for subscriber in subscribers:
                starting.create_task(subscriber.start())
    except BaseException:
        # The next attempt starts them all again: none may stay a member of its group meanwhile.
        await asyncio.gather(*(s.stop() for s in subscribers), return_exceptions=True)
        raise
    for publisher in broker.publishers:
        await publisher.start()
    broker.running = True


@asynccontextmanager
async def service_runtime(
    *,
    service: str,
    settings: ServiceSettings,
    broker: KafkaBroker,
    migrations: ServiceMigrations,
    wire: Callable[[Runtime], None],
    on_relayed: Relayed | None = None,
) -> AsyncIterator[Runtime]:
    """Pool → migrations → `wire` (subscribers, workers) → broker → relay, pruner and the
    outbox's sampler; torn down in reverse. `on_relayed` hears of each batch the relay settles."""
    schema = migrations.schema
    pool = await create_pool(settings.database_url, max_size=settings.db_pool_size)
    outbox = Outbox(schema)
    relay = OutboxRelay(
        pool,
        outbox,
        lambda records: publish_all(broker, records),
        poll_seconds=settings.outbox_poll_seconds,
        on_relayed=on_relayed,
    )
    runtime = Runtime(settings, pool, broker, outbox, relay)
    try:
        if settings.migrate_on_start:
            await migrate(pool, migrations)
        wire(runtime)
        await start_broker(broker)
        runtime.spawn(relay.run(), f"{service}-outbox-relay")
        pruner = Pruner(schema, settings.retention)
        runtime.spawn(
            run_pruner(pool, pruner, settings.retention_poll_seconds), f"{service}-retention"
        )
        backlog = OutboxBacklog(pool, outbox, service)
        runtime.spawn(
            sample_every(SAMPLE_SECONDS, backlog.sample, "the outbox"), f"{service}-outbox-gauges"
        )
        yield runtime
    finally:
        await _shutdown(runtime)


async def _shutdown(runtime: Runtime) -> None:
    for task in runtime.tasks:
        task.cancel()
    for task in runtime.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await stop_broker(runtime.broker)
    await runtime.pool.close()


class Stoppable(Protocol):
    async def stop(self) -> None: ...


async def stop_broker(broker: Stoppable, within: float = KAFKA_CLOSE_SECONDS) -> None:
    """Stop consuming and close the Kafka clients, or give up on them after `within` seconds.

    Called once the relay and the workers have ended: every record they published was acked or
    is still unmarked in the outbox, and a consumer commits its offsets only after its database
    transaction, so leaving early loses nothing; the group drops a member that did not get to
    leave when its session times out."""
    try:
        async with asyncio.timeout(within):
            await broker.stop()
    except TimeoutError:
        log.warning(
            "Kafka clients not closed after %.1fs (a broker not answering a TLS close, or a "
            "group rebalancing): exiting without waiting for them",
            within,
        )


def run_http(
    build_app: Callable[[], Any], settings: ServiceSettings, *, service: str, port: int
) -> None:
    """Serve the ASGI app `build_app` makes; logs go to stderr, collected by the launcher. The
    app is built once logging is configured, so whatever building it logs is in the same format."""
    configure_logging(settings.log_level, service=service, fmt=settings.log_format)
    app = build_app()
    sock = bind_first_free(settings.http_host, port, settings.http_port_tries)
    served = sock.getsockname()[1]
    if settings.http_port_file:
        Path(settings.http_port_file).write_text(f"{served}\n")
    logging.getLogger("stax.http").info("serving HTTP on %s:%d", settings.http_host, served)
    # log_config=None: uvicorn's loggers go through the handler configured above. No access log:
    # the paths of answer and sign-in links carry their signed tokens.
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=False,
        host=settings.http_host,
        timeout_graceful_shutdown=HTTP_DRAIN_SECONDS,
    )
    uvicorn.Server(config).run(sockets=[sock])


def bind_first_free(host: str, port: int, tries: int) -> socket.socket:
    """A listening socket on the first of port … port+tries-1 that binds. Binding is the test,
    so two replicas starting at once cannot both take one port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in range(port, port + tries):
        sock = socket.socket(family, socket.SOCK_STREAM)
        # As uvicorn does: a port left in TIME_WAIT by a previous run is free; on Linux a port
        # another process listens on still refuses the bind.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError:
            sock.close()
            continue
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock
    raise OSError(f"no free port on {host} among {port}..{port + tries - 1}")
