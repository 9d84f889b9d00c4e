"""The Docker engine, started by hand where no init system does it.

Why these flags: the machines this project runs on let traffic only on loopback, so dockerd runs
without its docker0 bridge and without iptables rules (`--bridge=none --iptables=false`), and
every container uses host networking; nothing ever gets a private-range address.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from deploy.local import processes

Log = Callable[[str], None]

DOCKERD_FLAGS = ("--bridge=none", "--iptables=false")
_READY_TIMEOUT = 60.0


class ContainerError(RuntimeError):
    """Something about Docker or the images the operator must fix; the message says what."""


def answers() -> bool:
    """True when a Docker engine answers the client."""
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30)
    return done.returncode == 0


def ensure(home: Path, log: Log = print) -> None:
    """A running engine: the one that answers, or dockerd started here (root only)."""
    if shutil.which("docker") is None:
        raise ContainerError("no `docker` client on PATH: apt-get install docker.io")
    if answers():
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise ContainerError(
            "no Docker engine answers and dockerd is missing: apt-get install docker.io"
        )
    if os.geteuid() != 0:
        raise ContainerError("no Docker engine answers; start one (dockerd needs root here)")
    home.mkdir(parents=True, exist_ok=True)
    log(f"docker    starting dockerd {' '.join(DOCKERD_FLAGS)} (log: {home / 'dockerd.log'})")
    with (home / "dockerd.log").open("ab") as out:
        child = subprocess.Popen(
            [dockerd, *DOCKERD_FLAGS, "--pidfile", str(home / "dockerd.pid")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    _wait(child, home)


def _wait(child: subprocess.Popen[bytes], home: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT
    while not answers():
        if child.poll() is not None:
            raise ContainerError(f"dockerd exited ({child.returncode}); see {home / 'dockerd.log'}")
        if time.monotonic() > deadline:
            raise ContainerError(f"dockerd not ready after {_READY_TIMEOUT:.0f}s; see its log")
        time.sleep(0.5)


def stop(home: Path, log: Log = print) -> bool:
    """Stop a dockerd that `ensure` started (its pid file); True if one was running."""
    pid = processes.read_pid(home / "dockerd.pid")
    if pid is None or not processes.is_alive(pid):
        return False
    processes.terminate(pid, timeout=30.0)
    log(f"docker    dockerd stopped (pid {pid})")
    return True
