"""Fixtures for matcher's tests."""

from __future__ import annotations

import asyncpg
import pytest


@pytest.fixture
async def idle_partners(pool: asyncpg.Pool) -> None:
    """Every partner with no open assignment, so a test that expects a ranking sees the one the
    registry gives, not one shaped by the offers earlier tests left open (headroom is scored).
    Tests only: it rewrites a counter the saga keeps."""
    await pool.execute("UPDATE matcher.partners SET open_assignments = 0")
