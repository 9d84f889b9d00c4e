"""Migration 0006 on a database that already has requests: what the report needs is backfilled."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from services.intake.migrations import MIGRATIONS
from shared import migrator

AT = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
async def conn(
    pool: asyncpg.Pool, database_url: str, unique: str
) -> AsyncIterator[asyncpg.Connection]:
    name = f"stax_intake_0006_{unique}"
    await pool.execute(f'CREATE DATABASE "{name}"')
    made = await asyncpg.connect(database_url.rsplit("/", 1)[0] + "/" + name)
    try:
        yield made
    finally:
        await made.close()
        await pool.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


async def test_region_topics_first_offer_and_match_times_are_backfilled(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    for older in sorted(MIGRATIONS.folder.glob("000[1-5]_*.sql")):
        shutil.copy(older, tmp_path)
    await migrator.apply(conn, "intake", tmp_path)  # intake as it was before 0006
    request_id = uuid4()
    submission = {"party": "SEN", "region": "AFR", "topics": ["PCB", "WASTE"], "contact": {}}
    await conn.execute(
        "INSERT INTO intake.requests (request_id, submitter, external_ref, body_hash, party,"
        " status, submission, accepted_at) VALUES ($1, 'p', 'r', 'h', 'SEN', 'matched', $2, $3)",
        request_id,
        json.dumps(submission),
        AT,
    )
    for minutes, status in ((5, "accepted"), (2, "declined")):
        await conn.execute(
            "INSERT INTO intake.assignments (assignment_id, request_id, partner_id, partner_name,"
            " role, score, respond_by, status, offered_at, updated_at)"
            " VALUES ($1, $2, 'unido', 'UNIDO', 'lead', 0.5, $3, $4, $3, $5)",
            uuid4(),
            request_id,
            AT + timedelta(minutes=minutes),
            status,
            AT + timedelta(minutes=9),
        )
    await conn.execute(
        "INSERT INTO intake.timeline (ce_id, request_id, at, event_type, summary)"
        " VALUES ($1, $2, $3, 'ta.request.matched', 'matched: unido')",
        uuid4(),
        request_id,
        AT + timedelta(minutes=10),
    )

    applied = await migrator.apply(conn, "intake", MIGRATIONS.folder)
    assert applied == [
        "0006_lifecycle_read_model",
        "0007_answer_links",
        "0008_dead_letter_replays",
        "0009_sign_in_links",
    ]

    row = await conn.fetchrow("SELECT * FROM intake.requests WHERE request_id = $1", request_id)
    assert row is not None
    assert (row["region"], row["topics"], row["uncovered_topics"]) == ("AFR", ["PCB", "WASTE"], [])
    assert (row["first_offer_at"], row["matched_at"]) == (
        AT + timedelta(minutes=2),
        AT + timedelta(minutes=10),
    )
    assert (row["status_at"], row["closed_at"], row["feedback_comment"]) == (None, None, "")
    accepted_at = await conn.fetchval(
        "SELECT accepted_at FROM intake.assignments WHERE status = 'accepted'"
    )
    assert accepted_at == AT + timedelta(minutes=9)
    with pytest.raises(asyncpg.CheckViolationError):  # statuses are the lifecycle's words now
        await conn.execute("UPDATE intake.requests SET status = 'lost'")
