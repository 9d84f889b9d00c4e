from __future__ import annotations

from pathlib import Path

import pytest

import services
from shared import migrator


def test_every_component_has_a_gapless_numbered_sequence() -> None:
    root = Path(services.__file__).parent
    folders = [root / s / "migrations" for s in ("intake", "matcher", "notifier")]
    folders.append(Path(migrator.__file__).parent / "migrations")
    for folder in folders:
        found = migrator.load(folder)
        assert [m.version for m in found] == list(range(1, len(found) + 1))


def test_a_gap_in_the_sequence_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    (tmp_path / "0003_third.sql").write_text("SELECT 1;")
    with pytest.raises(migrator.MigrationError, match="expected version 0002"):
        migrator.load(tmp_path)


def test_a_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_first.sql").write_text("SELECT 1;")
    with pytest.raises(migrator.MigrationError, match=r"0001_short_name\.sql"):
        migrator.load(tmp_path)
