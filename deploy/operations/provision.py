"""`stax init`: topics, the services' principals and ACLs, and every service's migrations, on the
Kafka and PostgreSQL an installation runs (the local launcher calls it too, on its own stack)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from deploy.operations.kafka_admin import KafkaAdmin
from services.intake.migrations import MIGRATIONS as INTAKE
from services.matcher.migrations import MIGRATIONS as MATCHER
from services.notifier.migrations import MIGRATIONS as NOTIFIER
from shared.db import create_pool
from shared.kafka import ensure_topics
from shared.kafka_access import KafkaAccess
from shared.kafka_acls import SERVICES
from shared.runtime import migrate

Log = Callable[[str], None]


async def provision(
    admin: KafkaAccess,
    database_url: str,
    passwords: Mapping[str, str] | None,
    log: Log,
) -> None:
    """Create the missing topics; when `passwords` (principal → password) are given, each
    service's principal with exactly its ACLs; then apply every migration."""
    created = await ensure_topics(admin)
    log(f"topics    {len(created)} created" + (f": {', '.join(created)}" if created else ""))
    if passwords is not None:
        KafkaAdmin(admin).provision_services(passwords)
        log("kafka     service principals and their ACLs in place (" + ", ".join(SERVICES) + ")")
    elif admin.secure:
        log("kafka     service principals left as they are (no STAX_KAFKA_PASSWORD_* given)")
    pool = await create_pool(database_url, max_size=2, wait_seconds=60)
    try:
        for migrations in (INTAKE, MATCHER, NOTIFIER):
            await migrate(pool, migrations)
    finally:
        await pool.close()
    log("migrations applied (auth, " + ", ".join(SERVICES) + ")")
