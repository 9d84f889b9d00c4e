"""intake's migrations: the SQL files beside this module, for schema `intake`."""

from pathlib import Path

from shared.migrator import ServiceMigrations

MIGRATIONS = ServiceMigrations(schema="intake", folder=Path(__file__).parent)
