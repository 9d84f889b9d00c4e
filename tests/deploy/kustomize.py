"""The real `kustomize` (the Go binary), built once from the Go module proxy and cached.

kubectl embeds a kustomize too, but not every machine has kubectl, and its kustomize lags behind
and varies with kubectl's version. So the tests build a pinned release with ``go install`` into
``<repo>/.stax/tools/kustomize-<version>/`` (git-ignored) and reuse it. Only Go is needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

# The newest release whose go.mod the machines' Go (1.26) builds: v5.8.3 asks for Go 1.27.
VERSION = "v5.8.2"
MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".stax" / "tools"
# A cold module cache downloads ~100 modules and compiles them: about a minute on 2 cores.
_INSTALL_TIMEOUT_S = 900


class KustomizeUnavailableError(RuntimeError):
    """kustomize could not be built here (no Go, an old Go, no module proxy)."""


def binary(log: Callable[[str], None] = print) -> Path:
    """The pinned kustomize, built on first use."""
    target = TOOLS / f"kustomize-{VERSION}" / "kustomize"
    if not target.is_file():
        _install(target, log)
    return target


def _install(target: Path, log: Callable[[str], None]) -> None:
    go = shutil.which("go")
    if go is None:
        raise KustomizeUnavailableError(
            f"`go` is not on PATH: the deploy tests build kustomize {VERSION} with "
            f"`go install {MODULE}@{VERSION}` (Go 1.26 or later). Install Go, or put a "
            f"kustomize {VERSION} binary at {target}."
        )
    TOOLS.mkdir(parents=True, exist_ok=True)
    log(f"[kustomize] building {MODULE}@{VERSION} into {target.parent} (once; about a minute)")
    started = time.monotonic()
    # Built into a temporary folder beside the target, then renamed: a build that dies halfway
    # (or a second test session building at once) never leaves a broken binary in the cache.
    with tempfile.TemporaryDirectory(dir=TOOLS) as scratch:
        out = subprocess.run(
            [go, "install", f"{MODULE}@{VERSION}"],
            env={**os.environ, "GOBIN": scratch},
            cwd=scratch,  # outside any go.mod or go.work of the caller's
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT_S,
            check=False,
        )
        if out.returncode != 0:
            raise KustomizeUnavailableError(
                f"`go install {MODULE}@{VERSION}` failed (exit {out.returncode}):\n{out.stderr}"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(Path(scratch) / "kustomize", target)
    log(f"[kustomize] built in {time.monotonic() - started:.0f} s")


def version(kustomize: Path) -> str:
    """What the binary says its version is (``v5.8.2``)."""
    return _run([str(kustomize), "version"]).strip()


def build(kustomize: Path, folder: Path) -> list[dict[str, Any]]:
    """`kustomize build FOLDER`: the rendered documents."""
    rendered = _run([str(kustomize), "build", str(folder)])
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def _run(command: list[str]) -> str:
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed (exit {out.returncode}):\n{out.stderr}")
    return out.stdout
