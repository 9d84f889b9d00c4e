"""The local stack: Kafka and PostgreSQL (embedded unless URLs are given), then `stax init`'s
provisioning (topics, principals, migrations), and the three services as background processes
with their logs in one folder."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.local import kafka, postgres, processes
from deploy.operations.provision import provision
from deploy.operations.settings import OperationsSettings
from shared.kafka_access import KafkaAccess
from shared.kafka_acls import ADMIN, service_principal
from shared.settings import ServiceSettings

SERVICES = ("intake", "matcher", "notifier")
REPO = Path(__file__).resolve().parents[2]
# The services' own settings for a stack on one machine (see the file); the environment wins.
SERVICES_ENV = Path(__file__).resolve().parent / "services.env"
Log = Callable[[str], None]


class StackError(RuntimeError):
    """Something the operator must fix; the message says what."""


class StackSettings(BaseSettings):
    """Where the local stack lives and listens (environment variables `STAX_*`)."""

    model_config = SettingsConfigDict(env_prefix="STAX_", extra="ignore")

    home: Path = Field(default=REPO / ".stax", description="State folder: data, logs, pids")
    kafka_bootstrap_servers: str | None = Field(
        default=None, description="Use this Kafka instead of starting one"
    )
    database_url: str | None = Field(
        default=None, description="Use this PostgreSQL instead of starting one"
    )
    kafka_home: Path | None = Field(
        default=None,
        description="The local broker's folder (data, TLS, credentials); default STAX_HOME/kafka",
    )
    kafka_secure: bool = Field(
        default=True, description="TLS + SCRAM + ACLs on the local broker (off: benchmarks only)"
    )
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    postgres_port: int = 5432
    intake_port: int = 8001
    matcher_port: int = 8002
    notifier_port: int = 8003

    @property
    def kafka(self) -> kafka.KafkaConfig:
        return kafka.KafkaConfig(
            home=self.kafka_home or self.home / "kafka",
            port=self.kafka_port,
            controller_port=self.kafka_controller_port,
            secure=self.kafka_secure,
        )

    @property
    def postgres(self) -> postgres.PostgresConfig:
        return postgres.PostgresConfig(home=self.home / "postgres", port=self.postgres_port)

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    def kafka_access(self, principal: str = ADMIN) -> KafkaAccess:
        """How `principal` reaches Kafka: the local broker's credentials, or, for an external
        broker, the STAX_KAFKA_SASL_* / STAX_KAFKA_SSL_CAFILE environment (one principal)."""
        if self.kafka_bootstrap_servers is None or self.kafka.credentials_file.exists():
            return self.kafka.access(principal).with_bootstrap(self.bootstrap)
        return ServiceSettings(kafka_bootstrap_servers=self.bootstrap).kafka

    @property
    def db_url(self) -> str:
        return self.database_url or self.postgres.url

    def port_of(self, service: str) -> int:
        port: int = getattr(self, f"{service}_port")
        return port

    def log_file(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def pid_file(self, service: str) -> Path:
        return self.home / "run" / f"{service}.pid"


# ----------------------------------------------------------------------------- infrastructure


def start_infrastructure(cfg: StackSettings, log: Log = print) -> None:
    """Kafka and PostgreSQL up (unless external), topics created, every migration applied."""
    if cfg.kafka_bootstrap_servers is None:
        _start_kafka(cfg, log)
    else:
        log(f"kafka     external at {cfg.kafka_bootstrap_servers}")
    if cfg.database_url is None:
        started = time.monotonic()
        postgres.start(cfg.postgres)
        log(f"postgres  ready at {cfg.postgres.url} ({time.monotonic() - started:.1f}s)")
    else:
        log("postgres  external (STAX_DATABASE_URL)")
    prepare(cfg, log)


def _start_kafka(cfg: StackSettings, log: Log) -> None:
    kcfg = cfg.kafka
    if kafka.running_pid(kcfg) is not None:
        log(f"kafka     already running at {cfg.bootstrap}")
        return
    started = time.monotonic()
    kafka.ensure_lib(kcfg, log=lambda line: log(f"kafka     {line.removeprefix('kafka: ')}"))
    pid = kafka.start(kcfg)
    kafka.wait_ready(kcfg, pid)
    log(f"kafka     ready at {cfg.bootstrap} (pid {pid}, {time.monotonic() - started:.1f}s)")


def prepare(cfg: StackSettings, log: Log = print) -> None:
    """Create the topics and apply every migration on the Kafka and database `cfg` points at."""
    access = cfg.kafka_access()
    passwords = _service_passwords(cfg) if access.secure else None
    asyncio.run(provision(access, cfg.db_url, passwords, log))


def _service_passwords(cfg: StackSettings) -> dict[str, str] | None:
    """The services' SCRAM passwords to set: the local broker's own, or for an external broker
    the ones its operator gave (STAX_KAFKA_PASSWORD_*, as `stax init` reads them)."""
    if cfg.kafka_bootstrap_servers is None or cfg.kafka.credentials_file.exists():
        return kafka.credentials(cfg.kafka)  # a broker this stack made (a process, a container)
    return OperationsSettings().service_passwords()


def stop_infrastructure(cfg: StackSettings, log: Log = print) -> None:
    if cfg.kafka_bootstrap_servers is None and kafka.stop(cfg.kafka):
        log("kafka     stopped")
    if cfg.database_url is None and postgres.stop(cfg.postgres):
        log("postgres  stopped")


# ----------------------------------------------------------------------------- services


def service_env(
    cfg: StackSettings, service: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(_kafka_env(cfg.kafka_access(service_principal(service))))
    env.update(
        {
            "STAX_DATABASE_URL": cfg.db_url,
            # The launcher applied every migration already; replicas need not race for it.
            "STAX_MIGRATE_ON_START": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({f"STAX_{s.upper()}_PORT": str(cfg.port_of(s)) for s in SERVICES})
    for name, value in local_defaults().items():
        env.setdefault(name, value)
    if service == "intake":  # its operator console calls matcher's and notifier's APIs
        env.setdefault("STAX_MATCHER_URL", f"http://127.0.0.1:{cfg.port_of('matcher')}")
        env.setdefault("STAX_NOTIFIER_URL", f"http://127.0.0.1:{cfg.port_of('notifier')}")
    if service in LINKED:
        env.setdefault("STAX_PUBLIC_URL", f"http://127.0.0.1:{cfg.port_of('intake')}")
        if "STAX_ANSWER_LINK_SECRET" not in env:
            env["STAX_ANSWER_LINK_SECRET"] = answer_link_secret(cfg)
    env.update(extra or {})
    return env


# notifier signs the Accept / Decline links of offer e-mails, intake verifies them.
LINKED = ("intake", "notifier")


def answer_link_secret(cfg: StackSettings) -> str:
    """The secret of answer links, made once per STAX_HOME and kept there (mode 0600, like the
    Kafka credentials): intake and notifier, and their restarts, get the same one."""
    path = cfg.home / "answer-link-secret"
    cfg.home.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two launchers starting at once, one writes and the other reads.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(32) + "\n")
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    for _ in range(50):  # written by another launcher a moment ago: wait for its line
        text = path.read_text().strip()
        if text:
            return text
        time.sleep(0.1)
    raise StackError(f"{path} is empty: delete it and start again")


def local_defaults(path: Path = SERVICES_ENV) -> dict[str, str]:
    """The `NAME=value` lines of services.env: services' documented settings, chosen for one
    machine (which the launcher passes on without knowing what they mean)."""
    lines = (line.strip() for line in path.read_text().splitlines())
    pairs = (line.partition("=") for line in lines if line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, _, value in pairs}


def admin_env(cfg: StackSettings) -> dict[str, str]:
    """The settings that point the operations commands (`stax`) at this stack, as admin."""
    return {
        **_kafka_env(cfg.kafka_access()),
        "STAX_DATABASE_URL": cfg.db_url,
        "STAX_INTAKE_URL": f"http://127.0.0.1:{cfg.port_of('intake')}",
    }


def _kafka_env(access: KafkaAccess) -> dict[str, str]:
    """Each service connects as its own principal (least privilege, brief §7.1)."""
    env = {
        "STAX_KAFKA_BOOTSTRAP_SERVERS": access.bootstrap_servers,
        "STAX_KAFKA_SECURITY_PROTOCOL": access.protocol,
        "STAX_KAFKA_SASL_USERNAME": access.username,
        "STAX_KAFKA_SASL_PASSWORD": access.password,
    }
    if access.cafile:
        env["STAX_KAFKA_SSL_CAFILE"] = access.cafile
    return env


def service_pid(cfg: StackSettings, service: str) -> int | None:
    pid = processes.read_pid(cfg.pid_file(service))
    if pid is None or not processes.is_alive(pid):
        return None
    # Guards against pid reuse after a reboot: it must be our service's interpreter.
    return pid if f"services.{service}" in processes.cmdline(pid) else None


def start_service(
    cfg: StackSettings, service: str, log: Log = print, extra_env: dict[str, str] | None = None
) -> int:
    if service not in SERVICES:
        raise StackError(f"unknown service {service!r}; choose one of {', '.join(SERVICES)}")
    if (pid := service_pid(cfg, service)) is not None:
        log(f"{service:9} already running (pid {pid})")
        return pid
    cfg.log_file(service).parent.mkdir(parents=True, exist_ok=True)
    cfg.pid_file(service).parent.mkdir(parents=True, exist_ok=True)
    with cfg.log_file(service).open("ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", f"services.{service}"],
            cwd=REPO,
            env=service_env(cfg, service, extra_env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    cfg.pid_file(service).write_text(str(child.pid))
    log(f"{service:9} started (pid {child.pid}, http://127.0.0.1:{cfg.port_of(service)})")
    return child.pid


def _still_there(cfg: StackSettings, service: str) -> bool:
    """A second look before declaring a service dead, half a second later."""
    time.sleep(0.5)
    return service_pid(cfg, service) is not None


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def stop_service(cfg: StackSettings, service: str, log: Log = print) -> bool:
    pid = service_pid(cfg, service)
    cfg.pid_file(service).unlink(missing_ok=True)
    if pid is None:
        return False
    processes.terminate(pid, timeout=20.0)
    log(f"{service:9} stopped (pid {pid})")
    return True


def is_ready(cfg: StackSettings, service: str) -> bool:
    url = f"http://127.0.0.1:{cfg.port_of(service)}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(
    cfg: StackSettings, names: tuple[str, ...] = SERVICES, timeout: float = 120.0
) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(names)
    while waiting:
        for service in list(waiting):
            if service_pid(cfg, service) is None and not _still_there(cfg, service):
                raise StackError(
                    f"{service} (pid {processes.read_pid(cfg.pid_file(service))}) exited; "
                    f"the end of {cfg.log_file(service)}:\n{_tail(cfg.log_file(service))}"
                )
            if is_ready(cfg, service):
                waiting.remove(service)
        if waiting and time.monotonic() > deadline:
            raise StackError(
                f"not ready after {timeout:.0f}s: {', '.join(waiting)}; "
                f"see the logs in {cfg.home / 'logs'}"
            )
        time.sleep(0.3)


# ----------------------------------------------------------------------------- whole stack


def up(cfg: StackSettings, *, wait: bool, log: Log = print) -> float:
    """Bring everything up; returns the seconds it took."""
    started = time.monotonic()
    start_infrastructure(cfg, log)
    for service in SERVICES:
        start_service(cfg, service, log)
    if wait:
        wait_ready(cfg)
        log(f"ready     all services answer /readyz ({time.monotonic() - started:.1f}s in all)")
    return time.monotonic() - started


def down(cfg: StackSettings, log: Log = print) -> None:
    for service in reversed(SERVICES):
        stop_service(cfg, service, log)
    stop_infrastructure(cfg, log)


@dataclass(frozen=True)
class Status:
    name: str
    pid: int | None
    detail: str


def status(cfg: StackSettings) -> list[Status]:
    rows = [
        Status(
            "kafka",
            kafka.running_pid(cfg.kafka) if cfg.kafka_bootstrap_servers is None else None,
            cfg.bootstrap,
        ),
        Status("postgres", _postgres_pid(cfg), cfg.db_url),
    ]
    for service in SERVICES:
        pid = service_pid(cfg, service)
        ready = "ready" if pid and is_ready(cfg, service) else ("starting" if pid else "stopped")
        rows.append(Status(service, pid, f"http://127.0.0.1:{cfg.port_of(service)} {ready}"))
    return rows


def _postgres_pid(cfg: StackSettings) -> int | None:
    return None if cfg.database_url is not None else postgres.pid(cfg.postgres)
