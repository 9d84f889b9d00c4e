"""The committed static assets of intake's pages, and the browser tests' own vendored files, are
the ones deploy/local/vendor_assets.py pins (checked offline: the script's download is not run
here), and each folder's ASSETS.md says so truly."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from deploy.local.vendor_assets import (
    DESTINATIONS,
    STATIC,
    TEST_PACKAGES,
    TEST_VENDOR,
    Package,
    Vendored,
    holds_integrity,
)

PINNED = [
    (folder, package, file)
    for folder, packages in DESTINATIONS
    for package in packages
    for file in package.files
]
IDS = [f"{folder.name}/{file.into}" for folder, _, file in PINNED]


@pytest.mark.parametrize(("folder", "package", "file"), PINNED, ids=IDS)
def test_each_committed_file_has_its_pinned_sha256(
    folder: Path, package: Package, file: Vendored
) -> None:
    committed = folder / file.into
    assert committed.is_file(), f"{committed} missing: python -m deploy.local.vendor_assets"
    assert hashlib.sha256(committed.read_bytes()).hexdigest() == file.sha256


@pytest.mark.parametrize(("folder", "package", "file"), PINNED, ids=IDS)
def test_the_listing_names_each_file_with_its_version_and_sha256(
    folder: Path, package: Package, file: Vendored
) -> None:
    listing = (folder / "ASSETS.md").read_text()
    row = next((line for line in listing.splitlines() if line.startswith(f"| `{file.into}` |")), "")
    assert f"`{package.name}` {package.version}" in row, row
    assert f"`{file.sha256}`" in row, row


def test_the_test_only_files_are_neither_served_nor_shipped() -> None:
    """intake serves pages/static/ and pyproject ships it: axe belongs to the tests alone."""
    assert not TEST_VENDOR.is_relative_to(STATIC)
    for package in TEST_PACKAGES:
        for file in package.files:
            assert not (STATIC / file.into).exists(), file.into


def test_a_tarball_is_taken_only_if_it_matches_its_sha512_integrity() -> None:
    data = b"a tarball"
    good = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert holds_integrity(data, good)
    assert not holds_integrity(data + b"!", good)
    assert not holds_integrity(data, "sha1-" + good.removeprefix("sha512-"))
