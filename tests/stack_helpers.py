"""Control of the services as real processes, for end-to-end tests (see conftest's `services`)."""

from __future__ import annotations

import signal
from datetime import datetime
from typing import Any

import asyncpg

from deploy.local import processes, stack
from shared.kafka_acls import service_principal
from tests.e2e.service_logs import ServiceLog

# What every service process of the tests gets, unless a test says otherwise: tenants' topics
# made by a test (`stax kafka grant`) are found within 2 s rather than the default 10.
SERVICE_ENV = {"STAX_KAFKA_TENANT_DISCOVERY_MS": "2000"}


class Services:
    """The three services as real processes on the test stack, for end-to-end tests.

    Started once per session on first use; a test that needs other settings (say, a short
    retry schedule) calls `restart(name, env)`, and `restart(name)` puts the defaults back.
    """

    live: list[Services] = []  # noqa: RUF012 - every instance, for the per-module clean-up

    def __init__(self, cfg: stack.StackSettings) -> None:
        self.cfg = cfg
        self._env: dict[str, dict[str, str]] = {}
        Services.live.append(self)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.cfg.port_of(service)}"

    def ensure(self, *names: str) -> None:
        wanted = names or stack.SERVICES
        for service in wanted:
            if stack.service_pid(self.cfg, service) is None:
                env = {**SERVICE_ENV, **self._env.get(service, {})}
                stack.start_service(self.cfg, service, log=_quiet, extra_env=env)
        stack.wait_ready(self.cfg, tuple(wanted), timeout=90)

    def configure(self, service: str, env: dict[str, str]) -> None:
        """Stop `service` if it runs; the next `ensure` starts it with `env`, alongside the others
        (a restart after `ensure` would wait for it to be ready twice)."""
        stack.stop_service(self.cfg, service, log=_quiet)
        self._env[service] = env

    def restart(self, service: str, env: dict[str, str] | None = None) -> None:
        stack.stop_service(self.cfg, service, log=_quiet)
        self._env[service] = env or {}
        self.ensure(service)

    def kill(self, service: str) -> int:
        """SIGKILL, as a crash would: no shutdown hooks, no commits."""
        pid = stack.service_pid(self.cfg, service)
        assert pid is not None, f"{service} is not running"
        processes.send(pid, signal.SIGKILL)
        processes.wait_exit(pid, 10)
        return pid

    def pid(self, service: str) -> int | None:
        return stack.service_pid(self.cfg, service)

    def stop(self, service: str) -> None:
        """Stop it and forget its settings: the next `ensure` starts it with the defaults."""
        stack.stop_service(self.cfg, service, log=_quiet)
        self._env.pop(service, None)

    def stop_all(self) -> None:
        for service in stack.SERVICES:
            self.stop(service)

    async def where_it_stands(self, service: str, since: datetime) -> str:
        """For a failure message: what `service` consumed and relayed since `since`, who holds
        the advisory locks (an outbox relay leads by one), and its last warnings and errors."""
        conn = await asyncpg.connect(self.cfg.db_url)
        try:
            inbox = await conn.fetch(
                f"SELECT consumer, count(*) AS n FROM {service}.inbox "
                "WHERE processed_at >= $1 GROUP BY consumer ORDER BY consumer",
                since,
            )
            outbox = await conn.fetch(
                f"SELECT topic, count(published_at) AS sent, count(*) AS n FROM {service}.outbox "
                "WHERE created_at >= $1 GROUP BY topic ORDER BY topic",
                since,
            )
            locks = await conn.fetch(
                "SELECT l.pid, l.objid, a.application_name, a.backend_start, a.state "
                "FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.granted"
            )
        finally:
            await conn.close()
        return "\n".join(
            [
                f"{service}.inbox since then: {[dict(r) for r in inbox]}",
                f"{service}.outbox since then (sent of n): {[dict(r) for r in outbox]}",
                f"advisory locks held: {[dict(r) for r in locks]}",
                f"{service} pid: {self.pid(service)}; its last warnings and errors:",
                *self._complaints(service, 25),
            ]
        )

    def _complaints(self, service: str, most: int) -> list[str]:
        path = self.cfg.log_file(service)
        if not path.exists():
            return [f"(no log at {path})"]
        return ServiceLog.read(self.cfg, service).complaints(most)


def _quiet(line: str) -> None:
    print(f"[services] {line}")


def service_kafka(infra: stack.StackSettings, service: str) -> dict[str, Any]:
    """Settings fields that connect an in-process service as its own principal."""
    access = infra.kafka_access(service_principal(service))
    return {
        "kafka_bootstrap_servers": access.bootstrap_servers,
        "kafka_security_protocol": access.protocol,
        "kafka_sasl_username": access.username,
        "kafka_sasl_password": access.password,
        "kafka_ssl_cafile": access.cafile,
    }
