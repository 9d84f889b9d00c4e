"""The test session's Kafka and PostgreSQL as containers (testcontainers), from the images
`make images` builds: the same broker configuration, credentials and TLS as the process-based
stack (deploy.local.kafka writes them into the session's folder, which the Kafka container
mounts at the same path), on the same ports, so every test runs unchanged on either backend.

Two rules of the machines this runs on shape it: no registry, so testcontainers' reaper (Ryuk,
a registry image) is off and the fixture removes its containers itself; and loopback only, so
every container uses host networking and fixed ports (no mapped ports exist then).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import LogMessageWaitStrategy

from deploy.containers import images
from deploy.containers.engine import ContainerError
from deploy.local import harness, kafka, stack

_READY_TIMEOUT = 120.0
_POLL = 0.3


@dataclass
class ContainerOutages:
    """Stops and starts the containers, for the tests of outages (the harness's Outages)."""

    kafka: DockerContainer
    postgres: DockerContainer
    postgres_port: int

    def stop_kafka(self) -> None:
        self.kafka.get_wrapped_container().stop(timeout=30)

    def start_kafka(self) -> None:
        seen = _count(self.kafka, kafka.READY_LINE)
        self.kafka.get_wrapped_container().start()
        _wait_logged(self.kafka, kafka.READY_LINE, more_than=seen)

    def stop_postgres(self) -> None:
        self.postgres.get_wrapped_container().stop(timeout=30)

    def start_postgres(self) -> None:
        self.postgres.get_wrapped_container().start()
        _wait_postgres(self.postgres, self.postgres_port)


@contextmanager
def container_stack(
    port_base: int, *, name: str, log: stack.Log = print
) -> Iterator[tuple[stack.StackSettings, ContainerOutages]]:
    """Kafka and PostgreSQL containers up, topics created, every migration applied; both are
    removed at the end (and the session's folder too, unless something failed)."""
    for image in ("kafka", "postgres"):
        if not images.exists(images.tag_of(image)):
            raise ContainerError(f"{images.tag_of(image)} is missing: run `make images` first")
    testcontainers_config.ryuk_disabled = True
    home = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    base = harness.settings(home, port_base)
    password = secrets.token_urlsafe(24)
    started: list[DockerContainer] = []
    failed = True
    try:
        broker = _start_kafka(base.kafka, started, log)
        database = _start_postgres(base.postgres_port, password, started, log)
        cfg = base.model_copy(
            update={
                "kafka_bootstrap_servers": base.kafka.bootstrap,
                "database_url": f"postgresql://stax:{password}@127.0.0.1:{base.postgres_port}/stax",
            }
        )
        stack.prepare(cfg, log)
        yield cfg, ContainerOutages(broker, database, base.postgres_port)
        failed = False
    finally:
        for container in reversed(started):
            _keep_logs(container, home)
            container.stop()
        if failed:
            log(f"kept {home} for its logs")
        else:
            shutil.rmtree(home, ignore_errors=True)


def _start_kafka(
    cfg: kafka.KafkaConfig, started: list[DockerContainer], log: stack.Log
) -> DockerContainer:
    took = time.monotonic()
    kafka.prepare_files(cfg)  # TLS, credentials and server.properties, in the mounted folder
    # Formatted on the first start only: a restart (the outage tests) keeps the data.
    format_then_run = (
        f"[ -f {cfg.data / 'meta.properties'} ] || "
        f"kafka-java {' '.join(kafka.storage_format_args(cfg))} >/dev/null"
        f" && exec kafka-java kafka.Kafka {cfg.properties_file}"
    )
    container = (
        DockerContainer(images.tag_of("kafka"))
        # The folder's files are the host user's (mode 0600): the broker runs as that user.
        .with_kwargs(network_mode="host", user=f"{os.getuid()}:{os.getgid()}")
        .with_volume_mapping(str(cfg.home), str(cfg.home), mode="rw")
        .with_env("HOME", str(cfg.home))
        .with_command(["sh", "-c", format_then_run])
        .waiting_for(
            LogMessageWaitStrategy(kafka.READY_LINE).with_startup_timeout(int(_READY_TIMEOUT))
        )
    )
    started.append(container.start())  # returns once the broker logged that it started
    log(f"kafka     container ready at {cfg.bootstrap} ({time.monotonic() - took:.1f}s)")
    return container


def _start_postgres(
    port: int, password: str, started: list[DockerContainer], log: stack.Log
) -> DockerContainer:
    took = time.monotonic()
    container = (
        DockerContainer(images.tag_of("postgres"))
        .with_kwargs(network_mode="host")
        .with_envs(POSTGRES_PASSWORD=password, PGPORT=str(port), POSTGRES_LISTEN="127.0.0.1")
    )
    started.append(container.start())
    _wait_postgres(container, port)
    log(f"postgres  container ready at 127.0.0.1:{port} ({time.monotonic() - took:.1f}s)")
    return container


def _count(container: DockerContainer, line: str) -> int:
    out, err = container.get_logs()
    return (out + err).decode(errors="replace").count(line)


def _wait_logged(container: DockerContainer, line: str, *, more_than: int) -> None:
    """Until the container has logged `line` more than `more_than` times (a restart logs it
    again), failing early if it exits."""
    deadline = time.monotonic() + _READY_TIMEOUT
    while _count(container, line) <= more_than:
        container.reload()
        if container.status == "exited":
            out, err = container.get_logs()
            raise ContainerError(f"{container.image} exited:\n{(out + err)[-2000:]!r}")
        if time.monotonic() > deadline:
            raise ContainerError(f"{container.image} did not log {line!r} again")
        time.sleep(_POLL)


def _wait_postgres(container: DockerContainer, port: int) -> None:
    """pg_isready over TCP: the first start's short-lived init server listens on no port."""
    deadline = time.monotonic() + _READY_TIMEOUT
    while True:
        done = container.exec(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)])
        if done.exit_code == 0:
            return
        if time.monotonic() > deadline:
            out, err = container.get_logs()
            raise ContainerError(f"PostgreSQL not ready on {port}:\n{(out + err)[-2000:]!r}")
        time.sleep(_POLL)


def _keep_logs(container: DockerContainer, home: Path) -> None:
    """The container's log next to the process backend's logs, for post-mortems."""
    try:
        out, err = container.get_logs()
    except Exception:  # noqa: BLE001 - a container that never started has none
        return
    name = "kafka" if "kafka" in container.image else "postgres"
    (home / "logs").mkdir(parents=True, exist_ok=True)
    (home / "logs" / f"{name}-container.log").write_bytes(out + err)
