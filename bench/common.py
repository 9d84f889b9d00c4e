"""Shared pieces of the benchmarks: a private stack, a table printer, and security on/off runs.

Benchmarks run on their own Kafka and PostgreSQL (ports from STAX_BENCH_PORT_BASE, default
24000) in a temporary folder, so a development stack is not disturbed, unless
STAX_KAFKA_BOOTSTRAP_SERVERS / STAX_DATABASE_URL are set.

Each benchmark measures twice in one run by default (`--security both`): on a private stack whose
broker runs TLS + SASL/SCRAM-SHA-512 with ACLs (the default everywhere), then on a second private
stack, started after the first is stopped, whose broker runs PLAINTEXT without an authorizer. That
second mode exists only here, to print what security costs; `security_table` prints the ratio and
`record` keeps the numbers in bench/results/<name>-security.json (not committed: see its
.gitignore).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.local import stack

RESULTS = Path(__file__).resolve().parent / "results"
MODES = {"both": (True, False), "on": (True,), "off": (False,)}


def log(line: str) -> None:
    print(f"  [stack] {line}")


def mode_name(secure: bool) -> str:
    return "on" if secure else "off"


def mode_title(secure: bool) -> str:
    if secure:
        return "security on: TLS + SASL/SCRAM-SHA-512 + ACLs, each client as its own principal"
    return "security off: PLAINTEXT, no authorizer (a benchmark switch, never a default)"


def add_security_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--security",
        choices=sorted(MODES),
        default="both",
        help="measure with the broker's security on, off, or both in this run (default: both, "
        "on first; each on a private stack of its own, one after the other)",
    )


@contextmanager
def bench_stack(*, secure: bool = True) -> Iterator[stack.StackSettings]:
    """A private stack; `secure=False` only to measure what TLS + SCRAM + ACLs cost."""
    base = int(os.environ.get("STAX_BENCH_PORT_BASE", "24000"))
    home = Path(tempfile.mkdtemp(prefix="stax-bench-"))
    cfg = stack.StackSettings(
        home=home,
        # Never a developer's STAX_KAFKA_HOME: switching modes reformats the broker's data.
        kafka_home=home / "kafka",
        kafka_secure=secure,
        kafka_port=base + 92,
        kafka_controller_port=base + 93,
        postgres_port=base + 32,
        intake_port=base + 1,
        matcher_port=base + 2,
        notifier_port=base + 3,
    )
    if cfg.kafka_bootstrap_servers is not None and cfg.kafka_access().secure != secure:
        # An external broker's security is its own (STAX_KAFKA_SECURITY_PROTOCOL); a label saying
        # otherwise would be a lie. Off runs need the private broker.
        shutil.rmtree(home, ignore_errors=True)
        raise SystemExit(
            f"STAX_KAFKA_BOOTSTRAP_SERVERS points at an external broker, which cannot be measured "
            f"with security {mode_name(secure)}; unset it, or pass "
            f"--security {mode_name(not secure)}"
        )
    print(f"\n=== {mode_title(secure)}")
    stack.start_infrastructure(cfg, log=log)
    try:
        yield cfg
    finally:
        stack.down(cfg, log=log)
        shutil.rmtree(cfg.home, ignore_errors=True)


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print an aligned table; numbers are formatted by the caller."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


@dataclass(frozen=True)
class Metric:
    """One number a benchmark measured in one security mode; rates, so higher is better."""

    name: str
    unit: str
    value: float
    kafka: bool = True  # False: a control with no Kafka in its path, expected to stay at ~1.00


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def security_table(name: str, by_mode: dict[bool, list[Metric]]) -> dict[str, float]:
    """The final table: each metric with security on, off, and on/off; returns the ratios."""
    if set(by_mode) != {True, False}:
        print(f"\n{name}: one security mode measured, no on/off ratio (pass --security both)")
        return {}
    on = {m.name: m for m in by_mode[True]}
    off = {m.name: m for m in by_mode[False]}
    ratios = {n: on[n].value / off[n].value for n in on if n in off and off[n].value}
    rows = [
        [
            n + ("" if on[n].kafka else " (control: no Kafka)"),
            on[n].unit,
            _fmt(on[n].value),
            _fmt(off[n].value),
            f"{ratios[n]:.2f}",
        ]
        for n in ratios
    ]
    table(
        f"{name}: security on against off, same run (ratio < 1: what security costs)",
        ["metric", "unit", "security on", "security off", "ratio on/off"],
        rows,
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"  on ran first, then off, each on a fresh private stack; load average at the end: {load} "
        f"on {os.cpu_count()} CPUs (shared machine: single runs are noisy)"
    )
    return ratios


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=RESULTS.parent,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def record_results(
    name: str,
    args: argparse.Namespace,
    by_mode: dict[bool, list[Metric]],
    ratios: dict[str, float],
    started: float,
) -> Path:
    """Write bench/results/<name>-security.json (overwritten by the next run) and say where."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-security.json"
    body: dict[str, Any] = {
        "benchmark": name,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "git_commit": _git_commit(),
        "args": vars(args),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
        },
        "order": [mode_name(s) for s in by_mode],
        "modes": {mode_name(s): [asdict(m) for m in ms] for s, ms in by_mode.items()},
        "ratio_on_off": {n: round(r, 4) for n, r in ratios.items()},
    }
    path.write_text(json.dumps(body, indent=2) + "\n")
    print(f"  results: {path.relative_to(RESULTS.parent.parent)}")
    return path
