"""Background processes of the local stack: pid files, liveness, graceful stop."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

_POLL = 0.2


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def is_alive(pid: int) -> bool:
    """True while the process runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the ')' closing the command name (which may contain spaces).
    state = stat.rpartition(")")[2].split()[0]
    return state not in {"Z", "X"}


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [os.fsdecode(part) for part in raw.split(b"\0") if part]


def send(pid: int, sig: signal.Signals) -> None:
    # It may exit between the liveness check and the signal: that is what we wanted anyway.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)
    return True


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM (graceful shutdown), then SIGKILL if still running after `timeout`."""
    send(pid, signal.SIGTERM)
    if not wait_exit(pid, timeout):
        send(pid, signal.SIGKILL)
        wait_exit(pid, 10.0)
