"""Driving the compose file from tests: one project (its own name, ports and secrets), brought
up with the images `make images` built, inspected through `docker`, and taken down with its
volumes. docker-compose 1.29 (Debian's package) or the `docker compose` plugin, whichever is
here."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "deploy" / "compose" / "compose.yaml"
PASSWORDS = (
    "STAX_KAFKA_PASSWORD_ADMIN",
    "STAX_KAFKA_PASSWORD_BROKER",
    "STAX_KAFKA_PASSWORD_CONTROLLER",
    "STAX_KAFKA_PASSWORD_INTAKE",
    "STAX_KAFKA_PASSWORD_MATCHER",
    "STAX_KAFKA_PASSWORD_NOTIFIER",
    "STAX_POSTGRES_PASSWORD",
    "STAX_ANSWER_LINK_SECRET",  # not a password, but a secret the same way
)


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    raise RuntimeError(
        "neither docker-compose nor `docker compose`: apt-get install docker-compose"
    )


@dataclass
class Ports:
    """Everything on 127.0.0.1 from one base, clear of the test session's and a dev stack's."""

    base: int

    @property
    def env(self) -> dict[str, str]:
        return {
            "STAX_KAFKA_PORT": str(self.kafka),
            "STAX_KAFKA_CONTROLLER_PORT": str(self.base + 93),
            "STAX_KAFKA_EXTERNAL_PORT": str(self.base + 94),
            "STAX_POSTGRES_PORT": str(self.postgres),
            "STAX_INTAKE_PORT": str(self.intake),
            "STAX_MATCHER_PORT": str(self.matcher),
            "STAX_NOTIFIER_PORT": str(self.notifier),
        }

    @property
    def kafka(self) -> int:
        return self.base + 92

    @property
    def postgres(self) -> int:
        return self.base + 32

    @property
    def intake(self) -> int:
        return self.base + 1

    @property
    def matcher(self) -> int:
        return self.base + 10

    @property
    def notifier(self) -> int:
        return self.base + 20


@dataclass
class ComposeProject:
    name: str
    home: Path  # the env file and anything copied out of the containers
    ports: Ports
    extra_env: dict[str, str] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.passwords = {name: secrets.token_urlsafe(24) for name in PASSWORDS}
        lines = {**self.passwords, **self.ports.env, **self.extra_env}
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        self.env_file.chmod(0o600)

    @property
    def env_file(self) -> Path:
        return self.home / ".env"

    def compose(self, *args: str, timeout: float = 600.0) -> str:
        cmd = [
            *compose_command(), "-p", self.name, "-f", str(COMPOSE_FILE),
            "--env-file", str(self.env_file), *args,
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[-len(args) :])} failed:\n{done.stderr[-4000:]}")
        return done.stdout

    def containers(self, service: str) -> list[str]:
        """Ids of the service's containers, running or not, oldest first."""
        out = _docker(
            "ps", "-a", "-q", "--no-trunc",
            "--filter", f"label=com.docker.compose.project={self.name}",
            "--filter", f"label=com.docker.compose.service={service}",
        )  # fmt: skip
        ids = out.split()
        return sorted(ids, key=lambda c: str(self.inspect(c)["Created"]))

    def inspect(self, container: str) -> dict[str, object]:
        loaded: list[dict[str, object]] = json.loads(_docker("inspect", container))
        return loaded[0]

    def health(self, container: str) -> str:
        state = self._state(container)
        health = state.get("Health")
        return str(health["Status"]) if isinstance(health, dict) else str(state["Status"])

    def wait_healthy(self, services: dict[str, int], timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            states = {(svc, c[:12]): self.health(c) for svc in services for c in self.running(svc)}
            counts = {svc: sum(1 for (s, _) in states if s == svc) for svc in services}
            if counts == services and all(v == "healthy" for v in states.values()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"not healthy after {timeout:.0f}s: {states}\n{self.logs()}")
            time.sleep(1.0)

    def running(self, service: str) -> list[str]:
        return [c for c in self.containers(service) if self._state(c).get("Running") is True]

    def _state(self, container: str) -> dict[str, object]:
        state = self.inspect(container)["State"]
        assert isinstance(state, dict)
        return state

    def logs(self, tail: int = 30) -> str:
        try:
            return self.compose("logs", "--no-color", f"--tail={tail}", timeout=60)[-8000:]
        except RuntimeError as exc:
            return str(exc)

    def kill(self, container: str) -> None:
        _docker("kill", "--signal", "KILL", container)

    def volume_file(self, volume: str, path: str, image: str) -> bytes:
        """A file from one of the project's named volumes, read by a throwaway container."""
        done = subprocess.run(
            ["docker", "run", "--rm", "--network", "host", "-v", f"{self.name}_{volume}:/v:ro",
             "--entrypoint", "cat", image, f"/v/{path}"],
            capture_output=True, check=True, timeout=60,
        )  # fmt: skip
        return done.stdout

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", "--timeout", "20")


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=True)
    return done.stdout
