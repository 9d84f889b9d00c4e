"""Vendors the browser libraries of intake's pages into services/intake/pages/static/ from the
npm registry, with their licence texts; and, apart from them, the browser tests' own library
(axe-core, the accessibility checker) into tests/browser/vendor/, which is never served or shipped.

    python -m deploy.local.vendor_assets

Each tarball is pinned twice: by version, and by the registry's own `dist.integrity` (the sha512
of the tarball), checked before anything is read from it. Only the named files are taken out of
it (never extractall: paths inside a tarball are not to be trusted), and each must match its
pinned sha256, the pins tests/unit/test_static_assets.py checks the committed files against
(offline). A file whose sha256 differs is not written.

To bump a package: its new version and `npm view NAME@VERSION dist.integrity` here, run this; it
names each new file's sha256 to pin; pin them, run again, and update the ASSETS.md of the
folder it goes to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx

REGISTRY = "https://registry.npmjs.org"
ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "services" / "intake" / "pages" / "static"
# Only the tests read these: not in STATIC, so pyproject's package-data never ships them.
TEST_VENDOR = ROOT / "tests" / "browser" / "vendor"


@dataclass(frozen=True)
class Vendored:
    """One file of a package: where it is in the tarball (under package/), its name in STATIC."""

    path: str
    into: str
    sha256: str


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # the registry's dist.integrity: "sha512-" and the base64 of the digest
    files: tuple[Vendored, ...]

    @property
    def tarball(self) -> str:
        unscoped = self.name.rsplit("/", 1)[-1]  # @kurkle/color's tarball is color-0.3.2.tgz
        return f"{REGISTRY}/{self.name}/-/{unscoped}-{self.version}.tgz"


PACKAGES = (
    Package(
        "htmx.org",
        "2.0.11",
        "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==",
        (
            Vendored(
                "dist/htmx.min.js",
                "htmx.min.js",
                "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
            ),
            Vendored(
                "LICENSE",
                "htmx.org.LICENSE",
                "d3d2456f76414f2456104660ebd65aff1c04cd7966b942bdabd63f3cdb316a38",
            ),
        ),
    ),
    Package(
        "chart.js",
        "4.6.1",
        "sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g==",
        (
            Vendored(
                "dist/chart.umd.min.js",
                "chart.umd.min.js",
                "87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2",
            ),
            Vendored(
                "LICENSE.md",
                "chart.js.LICENSE.md",
                "41a84aa2caba645f966a18d9c2056b73e6d3a81d80bc0046bc0011a2634d4cce",
            ),
        ),
    ),
    # chart.umd.min.js bundles @kurkle/color (MIT; its banner is kept in the file): the licence's
    # full text comes from that package's own tarball.
    Package(
        "@kurkle/color",
        "0.3.2",
        "sha512-fuscdXJ9G1qb7W8VdHi+IwRqij3lBkosAm4ydQtEmbY58OzHXqQhvlxqEkoz0yssNVn38bcpRWgA9PP+OGoisw==",
        (
            Vendored(
                "LICENSE.md",
                "kurkle-color.LICENSE.md",
                "2859c50313bad2ba77b081410c477beaf92b60ca13a77a248d89859a6dd6ac81",
            ),
        ),
    ),
)


# The browser tests inject axe into each page and assert it finds no WCAG 2.0/2.1 A or AA failure.
TEST_PACKAGES = (
    Package(
        "axe-core",
        "4.14.1",
        "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
        (
            Vendored(
                "axe.min.js",
                "axe.min.js",
                "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c",
            ),
            Vendored(
                "LICENSE",
                "axe-core.LICENSE",
                "af175b9d96ee93c21a036152e1b905b0b95304d4ae8c2c921c7609100ba8df7e",
            ),
            # axe.min.js bundles a few MIT/ISC-licensed libraries; their notices are in this file.
            Vendored(
                "LICENSE-3RD-PARTY.txt",
                "axe-core.LICENSE-3RD-PARTY.txt",
                "4f8563870d0fca38bbc3e00b6f670cb7fa9f380ba9f26a7f7d1184a6b18b1653",
            ),
        ),
    ),
)

# Each folder and the packages vendored into it; each folder has its own ASSETS.md.
DESTINATIONS: tuple[tuple[Path, tuple[Package, ...]], ...] = (
    (STATIC, PACKAGES),
    (TEST_VENDOR, TEST_PACKAGES),
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def holds_integrity(data: bytes, integrity: str) -> bool:
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":  # the registry's current scheme; sha1 `shasum`s are too weak
        return False
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    return hmac.compare_digest(actual, expected)


def member(tarball: bytes, path: str) -> bytes:
    """One regular file of an npm tarball, read without extracting anything to disk."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        info = tar.getmember(f"package/{path}")
        read = tar.extractfile(info) if info.isfile() else None
        if read is None:
            raise ValueError(f"package/{path} is not a regular file")
        return read.read()


def vendor(package: Package, folder: Path, client: httpx.Client) -> list[str]:
    """Writes the package's files into `folder`; returns what went wrong (nothing: all written)."""
    got = client.get(package.tarball)
    got.raise_for_status()
    if not holds_integrity(got.content, package.integrity):
        return [f"{package.tarball}: does not match the pinned integrity"]
    problems = []
    for file in package.files:
        data = member(got.content, file.path)
        if sha256(data) != file.sha256:
            problems.append(f"{file.into}: sha256 {sha256(data)}, pinned {file.sha256 or '-'}")
            continue
        (folder / file.into).write_bytes(data)
        print(f"{package.name}@{package.version} {file.path} -> {folder / file.into}")
    return problems


def main() -> int:
    problems = []
    with httpx.Client(timeout=60) as client:
        for folder, packages in DESTINATIONS:
            folder.mkdir(parents=True, exist_ok=True)
            for package in packages:
                problems += vendor(package, folder, client)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
