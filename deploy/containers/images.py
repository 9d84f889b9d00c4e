"""The images, built here from a Debian base made with debootstrap (no registry is reachable).

The Dockerfiles (deploy/docker) take their base as a build argument, BASE_IMAGE: registry users
keep the defaults (python:3.11-slim, debian:bookworm-slim); this module passes the local base.
Debian's mirror is read from this machine's own apt configuration at run time, never written
into the repository; the base image gets the machine's apt sources, so builds on it can
`apt-get install` (bookworm's python3.11, openjdk-17-jre-headless, postgresql-15, maven).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from deploy.containers.engine import ContainerError, Log
from deploy.local.kafka import kafka_version

REPO = Path(__file__).resolve().parents[2]
BASE = "stax-base:bookworm"
APT_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))
# The certificate authorities this machine trusts: where egress passes through an inspecting
# proxy, builds on the base (pip, Maven) must trust its CA too, as the machine does.
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
_BASE_ENV = (f"ENV SSL_CERT_FILE={CA_BUNDLE}", f"ENV PIP_CERT={CA_BUNDLE}")
_DEBOOTSTRAP_TIMEOUT = 15 * 60.0
_BUILD_TIMEOUT = 30 * 60.0


@dataclass(frozen=True)
class Image:
    name: str  # what the compose file and the fixtures call it
    tag: str
    dockerfile: str  # relative to the repository, the build context


def images() -> tuple[Image, ...]:
    """STAX (one image, three services and `stax`), Kafka at the local stack's version, and
    PostgreSQL from Debian's package."""
    return (
        Image("stax", f"stax:{_stax_version()}", "deploy/docker/Dockerfile"),
        Image("kafka", f"stax-kafka:{kafka_version()}", "deploy/docker/kafka.Dockerfile"),
        Image("postgres", "stax-postgres:15", "deploy/docker/postgres.Dockerfile"),
    )


def tag_of(name: str) -> str:
    return next(image.tag for image in images() if image.name == name)


def _stax_version() -> str:
    found = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    if found is None:
        raise ContainerError("pyproject.toml has no version")
    return found.group(1)


def exists(tag: str) -> bool:
    done = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False)
    return done.returncode == 0


def debian_mirror(sources: tuple[Path, ...] = APT_SOURCES) -> str:
    """The first Debian mirror in this machine's apt configuration (deb822 or one-line)."""
    for path in sources:
        if not path.is_file():
            continue
        text = path.read_text()
        found = re.search(r"^URIs:\s*(\S+)", text, re.M) or re.search(
            r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", text, re.M
        )
        if found:
            return found.group(1)
    raise ContainerError(f"no Debian mirror found in {', '.join(map(str, sources))}")


def ensure_base(log: Log = print, *, rebuild: bool = False) -> str:
    """The local bookworm base image, made once (debootstrap --variant=minbase, docker import)."""
    if exists(BASE) and not rebuild:
        log(f"images    {BASE} present")
        return BASE
    if shutil.which("debootstrap") is None:
        raise ContainerError("debootstrap is missing: apt-get install debootstrap")
    mirror = debian_mirror()
    started = time.monotonic()
    log(f"images    {BASE}: debootstrap --variant=minbase bookworm from this machine's mirror")
    with tempfile.TemporaryDirectory(prefix="stax-base-") as root:
        _run(["debootstrap", "--variant=minbase", "bookworm", root, mirror], _DEBOOTSTRAP_TIMEOUT)
        _apt_sources_into(Path(root))
        _trust_into(Path(root))
        _drop_apt_cache(Path(root))
        changes = [arg for env in _BASE_ENV for arg in ("--change", env)]
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        _run(["docker", "import", *changes, "-", BASE], _BUILD_TIMEOUT, stdin=tar.stdout)
        tar.wait()
    log(f"images    {BASE} made in {time.monotonic() - started:.0f}s")
    return BASE


def _apt_sources_into(root: Path) -> None:
    """The machine's own apt sources (with bookworm-updates and security), in the image only."""
    for path in APT_SOURCES:
        if path.is_file():
            target = root / path.relative_to("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    if (root / APT_SOURCES[0].relative_to("/")).is_file():
        (root / "etc/apt/sources.list").unlink(missing_ok=True)  # debootstrap's, now a repeat


def _drop_apt_cache(root: Path) -> None:
    """debootstrap's downloaded packages and apt's caches: about 30 MB in every image."""
    cache = root / "var/cache/apt"
    for leftover in [*cache.glob("*.bin"), *cache.glob("archives/*.deb")]:
        leftover.unlink()


def _trust_into(root: Path) -> None:
    """This machine's CA bundle and its local CAs (kept by update-ca-certificates when a build
    installs Debian's ca-certificates, as the JRE does for Maven)."""
    if CA_BUNDLE.is_file():
        (root / CA_BUNDLE.relative_to("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CA_BUNDLE, root / CA_BUNDLE.relative_to("/"))
    if LOCAL_CAS.is_dir():
        shutil.copytree(LOCAL_CAS, root / LOCAL_CAS.relative_to("/"), dirs_exist_ok=True)


def build(image: Image, base: str | None, log: Log = print) -> float:
    """`docker build` one image (host networking); returns the seconds it took."""
    started = time.monotonic()
    args = ["--build-arg", f"BASE_IMAGE={base}"] if base else []
    log(f"images    building {image.tag} from {image.dockerfile}" + (f" on {base}" if base else ""))
    _run(
        ["docker", "build", "--network", "host", "-q", *args,
         "-f", image.dockerfile, "-t", image.tag, "."],
        _BUILD_TIMEOUT, cwd=REPO,
    )  # fmt: skip
    took = time.monotonic() - started
    log(f"images    {image.tag} built in {took:.0f}s ({size_mb(image.tag):.0f} MB)")
    return took


def size_mb(tag: str) -> float:
    done = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Size}}", tag],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(done.stdout.strip()) / 1e6


def build_all(log: Log = print, *, local_base: bool = True) -> dict[str, float]:
    """Every image; `local_base` builds on the debootstrap base instead of registry bases."""
    base = ensure_base(log) if local_base else None
    return {image.tag: build(image, base, log) for image in images()}


def _run(
    cmd: list[str], timeout: float, *, cwd: Path | None = None, stdin: IO[bytes] | None = None
) -> None:
    done = subprocess.run(
        cmd, cwd=cwd, stdin=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise ContainerError(f"`{' '.join(cmd[:3])} …` failed (exit {done.returncode}):\n{tail}")
