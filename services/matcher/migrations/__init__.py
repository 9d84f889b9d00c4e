"""matcher's migrations: the SQL files beside this module, for schema `matcher`."""

from pathlib import Path

from shared.migrator import ServiceMigrations

MIGRATIONS = ServiceMigrations(schema="matcher", folder=Path(__file__).parent)
