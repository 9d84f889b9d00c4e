"""notifier's migrations: the SQL files beside this module, for schema `notifier`."""

from pathlib import Path

from shared.migrator import ServiceMigrations

MIGRATIONS = ServiceMigrations(schema="notifier", folder=Path(__file__).parent)
