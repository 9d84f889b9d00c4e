"""Shared pieces of the benchmarks: private stacks, a table printer, and security on/off runs.

Benchmarks run on their own Kafka and PostgreSQL (ports from STAX_BENCH_PORT_BASE, default
24000) in a temporary folder, with the tests' harness (`deploy.local.harness`), so a development
stack is not disturbed, unless STAX_KAFKA_BOOTSTRAP_SERVERS / STAX_DATABASE_URL are set.

Each benchmark measures with the broker's security on and off in one run (`--security both`, the
default): one private stack whose broker runs TLS + SASL/SCRAM-SHA-512 with ACLs (the default
everywhere), and a second one, on ports STAX_BENCH_PORT_BASE + 100, whose broker runs PLAINTEXT
without an authorizer. That second mode exists only here, to show what security costs. Both stacks
are up side by side and the measurements alternate between them in rounds (on, off, then off,
on, ...), so that load from elsewhere on a shared machine falls on both modes alike rather than on
whichever ran second. `security_table` prints the medians and the ratio on/off; `record_results`
keeps every sample in bench/results/<name>-security.json (not committed: see its .gitignore).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.local import kafka, stack
from deploy.local.harness import private_stack
from shared.settings import ServiceSettings

RESULTS = Path(__file__).resolve().parent / "results"
MODES = {"both": (True, False), "on": (True,), "off": (False,)}
PLAINTEXT_PORT_OFFSET = 100  # the security-off stack's ports: STAX_BENCH_PORT_BASE + 100 + ...


def log_for(secure: bool) -> Callable[[str], None]:
    """The stack's log lines, marked with the mode of the stack they come from."""
    return lambda line: print(f"  [stack, security {mode_name(secure)}] {line}")


def mode_name(secure: bool) -> str:
    return "on" if secure else "off"


def mode_title(secure: bool) -> str:
    if secure:
        return "security on: TLS + SASL/SCRAM-SHA-512 + ACLs, each service as its own principal"
    return "security off: PLAINTEXT, no authorizer (a benchmark switch, never a default)"


def add_security_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--security",
        choices=sorted(MODES),
        default="both",
        help="measure with the broker's security on, off, or both in this run (default: both, "
        "each on a private stack of its own, measurements alternating between them)",
    )


@contextmanager
def bench_stack(*, secure: bool = True) -> Iterator[stack.StackSettings]:
    """A private stack; `secure=False` only to measure what TLS + SCRAM + ACLs cost."""
    base = int(os.environ.get("STAX_BENCH_PORT_BASE", "24000"))
    base += 0 if secure else PLAINTEXT_PORT_OFFSET
    external = stack.StackSettings().kafka_bootstrap_servers is not None
    if external and ServiceSettings().kafka.secure != secure:
        # An external broker's security is its own (STAX_KAFKA_SECURITY_PROTOCOL); a label saying
        # otherwise would be a lie, so a mode it cannot serve is refused.
        other = mode_name(not secure)
        raise SystemExit(
            f"STAX_KAFKA_BOOTSTRAP_SERVERS points at an external broker, which cannot be measured "
            f"with security {mode_name(secure)}: unset it, or pass --security {other}"
        )
    print(f"\n=== {mode_title(secure)}")
    with private_stack(
        base,
        name=f"stax-bench-{mode_name(secure)}",
        secure=secure,
        external=True,
        log=log_for(secure),
    ) as cfg:
        yield cfg


@contextmanager
def bench_stacks(security: str) -> Iterator[dict[bool, stack.StackSettings]]:
    """One private stack per mode asked for (secure first), all up until the block ends."""
    if len(MODES[security]) > 1 and stack.StackSettings().database_url is not None:
        # Two services of a kind on one database would claim each other's work.
        raise SystemExit(
            "STAX_DATABASE_URL is set: both stacks would share it; unset it, or pass "
            "--security on or --security off"
        )
    with ExitStack() as stacks:
        yield {s: stacks.enter_context(bench_stack(secure=s)) for s in MODES[security]}


def schedule(modes: Sequence[bool], rounds: int) -> list[tuple[int, bool]]:
    """(round, secure) in the order to measure: on, off; off, on; ... so neither mode always
    goes first (a drift in the machine's load then cancels out over pairs of rounds)."""
    order: list[tuple[int, bool]] = []
    for r in range(rounds):
        order += [(r, s) for s in (modes if r % 2 == 0 else list(reversed(modes)))]
    return order


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print an aligned table; numbers are formatted by the caller."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


class CpuClock:
    """CPU seconds a stack's service process and its Kafka broker (and, if asked, this process)
    use inside a `with` block. A busy shared machine stretches wall-clock rates a lot more than
    it changes the CPU a unit of work takes, so "per CPU-second" rates show what TLS + SCRAM cost
    (on both ends of each connection) more steadily. PostgreSQL's processes are not counted."""

    def __init__(
        self, cfg: stack.StackSettings, service: str | None, *, this_process: bool = False
    ) -> None:
        pids = [stack.service_pid(cfg, service) if service else None, kafka.running_pid(cfg.kafka)]
        self.pids = [pid for pid in pids if pid is not None]
        self.this_process = this_process
        self.seconds = 0.0
        self._start = 0.0

    def _now(self) -> float:
        ticks = 0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except FileNotFoundError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime + stime, all threads
        own = time.process_time() if self.this_process else 0.0
        return ticks / os.sysconf("SC_CLK_TCK") + own

    def __enter__(self) -> CpuClock:
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = self._now() - self._start


@dataclass(frozen=True)
class Metric:
    """One number a benchmark measured in one security mode; rates, so higher is better."""

    name: str
    unit: str
    value: float
    kafka: bool = True  # False: a control with no Kafka in its path; its ratio shows the noise


# secure -> one list of metrics per round
Samples = dict[bool, list[list[Metric]]]


def medians(rounds: Sequence[Sequence[Metric]]) -> dict[str, Metric]:
    """Each metric's median over the rounds (unit and kind from the first round)."""
    return {
        m.name: Metric(
            m.name,
            m.unit,
            statistics.median(x.value for r in rounds for x in r if x.name == m.name),
            m.kafka,
        )
        for m in rounds[0]
    }


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def _ratios(samples: Samples) -> tuple[dict[str, float], dict[str, list[float]]]:
    on, off = medians(samples[True]), medians(samples[False])
    ratios = {n: on[n].value / off[n].value for n in on if n in off and off[n].value}
    by_round = [
        ({m.name: m.value for m in a}, {m.name: m.value for m in b})
        for a, b in zip(samples[True], samples[False], strict=True)
    ]
    per_round = {n: [a[n] / b[n] for a, b in by_round if b.get(n)] for n in ratios}
    return ratios, per_round


def security_table(name: str, samples: Samples) -> dict[str, float]:
    """The final table: each metric's median with security on, off, and on/off."""
    if set(samples) != {True, False}:
        print(f"\n{name}: one security mode measured, no on/off ratio (pass --security both)")
        return {}
    on, off = medians(samples[True]), medians(samples[False])
    ratios, per_round = _ratios(samples)
    rounds = len(samples[True])
    rows = [
        [
            n + ("" if on[n].kafka else " (control, no Kafka)"),
            on[n].unit,
            _fmt(on[n].value),
            _fmt(off[n].value),
            f"{ratios[n]:.2f}",
            ", ".join(f"{r:.2f}" for r in per_round[n]),
        ]
        for n in ratios
    ]
    table(
        f"{name}: security on against off, same run, median of {rounds} "
        f"(ratio < 1: what TLS + SCRAM + ACLs cost)",
        ["metric", "unit", "security on", "security off", "ratio on/off", "per round"],
        rows,
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"  both stacks up side by side, rounds alternating (on, off / off, on); load average "
        f"at the end: {load} on {os.cpu_count()} CPUs (a shared machine: expect noise)"
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
    samples: Samples,
    started: float,
) -> Path:
    """Write bench/results/<name>-security.json (overwritten by the next run) and say where."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-security.json"
    both = set(samples) == {True, False}
    ratios, per_round = _ratios(samples) if both else ({}, {})
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
        "median": {
            mode_name(s): {n: round(m.value, 3) for n, m in medians(rounds).items()}
            for s, rounds in samples.items()
        },
        "units": {m.name: m.unit for rounds in samples.values() for m in rounds[0]},
        "ratio_on_off": {n: round(r, 4) for n, r in ratios.items()},
        "ratio_on_off_per_round": {n: [round(r, 4) for r in rs] for n, rs in per_round.items()},
        "samples": {
            mode_name(s): [[asdict(m) for m in r] for r in rounds] for s, rounds in samples.items()
        },
    }
    path.write_text(json.dumps(body, indent=2) + "\n")
    print(f"  results: {path.relative_to(RESULTS.parent.parent)}")
    return path
