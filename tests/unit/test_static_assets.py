"""The committed static assets of intake's pages are the ones deploy/local/vendor_assets.py pins
(checked offline: the script's download is not run here), and ASSETS.md says so truly."""

from __future__ import annotations

import base64
import hashlib

import pytest

from deploy.local.vendor_assets import PACKAGES, STATIC, Package, Vendored, holds_integrity

PINNED = [(package, file) for package in PACKAGES for file in package.files]
LISTING = (STATIC / "ASSETS.md").read_text()


@pytest.mark.parametrize(("package", "file"), PINNED, ids=[file.into for _, file in PINNED])
def test_each_committed_file_has_its_pinned_sha256(package: Package, file: Vendored) -> None:
    committed = STATIC / file.into
    assert committed.is_file(), f"{file.into} missing: python -m deploy.local.vendor_assets"
    assert hashlib.sha256(committed.read_bytes()).hexdigest() == file.sha256


@pytest.mark.parametrize(("package", "file"), PINNED, ids=[file.into for _, file in PINNED])
def test_the_listing_names_each_file_with_its_version_and_sha256(
    package: Package, file: Vendored
) -> None:
    row = next((line for line in LISTING.splitlines() if line.startswith(f"| `{file.into}` |")), "")
    assert f"`{package.name}` {package.version}" in row, row
    assert f"`{file.sha256}`" in row, row


def test_a_tarball_is_taken_only_if_it_matches_its_sha512_integrity() -> None:
    data = b"a tarball"
    good = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert holds_integrity(data, good)
    assert not holds_integrity(data + b"!", good)
    assert not holds_integrity(data, "sha1-" + good.removeprefix("sha512-"))
