"""Shared pieces of the benchmarks: a private stack and a table printer.

Benchmarks run on their own Kafka and PostgreSQL (ports from STAX_BENCH_PORT_BASE, default
24000) in a temporary folder, so a development stack is not disturbed, unless
STAX_KAFKA_BOOTSTRAP_SERVERS / STAX_DATABASE_URL are set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from deploy.local import stack


@contextmanager
def bench_stack() -> Iterator[stack.StackSettings]:
    base = int(os.environ.get("STAX_BENCH_PORT_BASE", "24000"))
    cfg = stack.StackSettings(
        home=Path(tempfile.mkdtemp(prefix="stax-bench-")),
        kafka_port=base + 92,
        kafka_controller_port=base + 93,
        postgres_port=base + 32,
        intake_port=base + 1,
        matcher_port=base + 2,
        notifier_port=base + 3,
    )
    stack.start_infrastructure(cfg, log=lambda line: print(f"  [stack] {line}"))
    try:
        yield cfg
    finally:
        stack.down(cfg, log=lambda line: print(f"  [stack] {line}"))
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
