"""Replicas on one host network each find a port of their own (compose --scale)."""

from __future__ import annotations

import socket

import pytest

from shared.runtime import bind_first_free


def _free_span(width: int) -> int:
    """A port p with p … p+width-1 all free right now (a few tries of random ports)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            start: int = probe.getsockname()[1]
        if start + width >= 65536:
            continue
        held = []
        try:
            for port in range(start, start + width):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return start
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free span of ports found")


def test_three_replicas_take_three_ports_and_a_fourth_is_refused_clearly() -> None:
    start = _free_span(3)
    taken = [bind_first_free("127.0.0.1", start, 3) for _ in range(3)]
    try:
        assert sorted(s.getsockname()[1] for s in taken) == [start, start + 1, start + 2]
        with pytest.raises(OSError, match=rf"no free port on 127.0.0.1 among {start}"):
            bind_first_free("127.0.0.1", start, 3)
    finally:
        for s in taken:
            s.close()


def test_one_try_is_the_plain_fixed_port() -> None:
    start = _free_span(1)
    sock = bind_first_free("127.0.0.1", start, 1)
    try:
        assert sock.getsockname()[1] == start
    finally:
        sock.close()
