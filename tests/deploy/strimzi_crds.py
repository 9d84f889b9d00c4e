"""Generates the Strimzi CRDs from Maven Central artifacts and vendors their schemas.

    JAVA_HOME=/path/to/jdk-21-or-later python -m tests.deploy.strimzi_crds [YAML_FOLDER]

Strimzi's CRD YAML is not published to a package registry; Strimzi's build generates it from the
annotated Java model in ``io.strimzi:api`` with its own generator, ``io.strimzi:crd-generator``.
Both are on Maven Central, so this downloads the two jars of one release from there (checked
against the SHA-256 sums pinned below), runs the generator with the arguments Strimzi's own build
passes it (the ``exec-maven-plugin`` execution in ``io.strimzi:api``'s published POM), and hands
the YAML to vendor_crds.py, which writes tests/deploy/schemas/. The YAML goes to a temporary
folder unless YAML_FOLDER is given. Only the kinds deploy/k8s uses are generated.

The 1.2.0 jars are Java 21 class files (class file version 65): JAVA_HOME must point at a JDK 21
or later, or ``java`` on PATH must be one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from tests.deploy import vendor_crds

VERSION = "1.2.0"
CENTRAL = "https://repo1.maven.org/maven2"
# artifactId → SHA-256 of its jar (Maven Central publishes the same in <jar>.sha256).
JARS = {
    "api": "566961ae5e5646a001ae91312beda5cba3a5d467e740e205e1b761754335fe4e",
    # A shaded jar: the generator with its dependencies (Jackson, Fabric8 model, log4j).
    "crd-generator": "76bb2430e702a1e6a24c071d26c865d5e9572cbc630d176d3b912033ae23ed00",
}
MAIN_CLASS = "io.strimzi.crdgenerator.CrdGenerator"
# As in io.strimzi:api:1.2.0's POM (exec-maven-plugin, execution of CrdGenerator).
OPTIONS = [
    "--label", "app:strimzi",
    "--label", "strimzi.io/crd-install:true",
    "--target-kube", "1.16+",
    "--crd-api-version", "v1",
    "--api-versions", "v1",
    "--storage-version", "v1",
    "--yaml",
]  # fmt: skip
# Model class → the file name the Strimzi release gives the CRD (install/cluster-operator/).
KINDS = {
    "io.strimzi.api.kafka.model.kafka.Kafka": "040-Crd-kafka.yaml",
    "io.strimzi.api.kafka.model.topic.KafkaTopic": "043-Crd-kafkatopic.yaml",
    "io.strimzi.api.kafka.model.user.KafkaUser": "044-Crd-kafkauser.yaml",
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool": "045-Crd-kafkanodepool.yaml",
}


def download(artifact: str, folder: Path) -> Path:
    """``io.strimzi:<artifact>:<VERSION>``'s jar from Maven Central, its SHA-256 checked."""
    name = f"{artifact}-{VERSION}.jar"
    url = f"{CENTRAL}/io/strimzi/{artifact}/{VERSION}/{name}"
    with urllib.request.urlopen(url, timeout=120) as response:
        content = response.read()
    digest = hashlib.sha256(content).hexdigest()
    if digest != JARS[artifact]:
        raise SystemExit(f"{url}: SHA-256 {digest}, expected {JARS[artifact]}")
    target = folder / name
    target.write_bytes(content)
    return target


def java() -> str:
    """$JAVA_HOME/bin/java when JAVA_HOME is set, else `java` on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if found is None or not Path(found).is_file():
        raise SystemExit("no java: set JAVA_HOME to a JDK 21 or later")
    return found


def generate(folder: Path) -> list[Path]:
    """The CRD YAML of the kinds in KINDS, generated into the folder."""
    jars = [download(artifact, folder) for artifact in JARS]
    outputs = [folder / name for name in KINDS.values()]
    pairs = [f"{model}={output}" for model, output in zip(KINDS, outputs, strict=True)]
    classpath = os.pathsep.join(str(jar) for jar in jars)
    command = [java(), "-cp", classpath, MAIN_CLASS, *OPTIONS, *pairs]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if out.returncode != 0:
        hint = ""
        if "UnsupportedClassVersionError" in out.stderr:
            hint = f"\nStrimzi {VERSION} needs Java 21 or later: set JAVA_HOME to such a JDK."
        raise SystemExit(f"{MAIN_CLASS} failed (exit {out.returncode}):\n{out.stderr}{hint}")
    return outputs


def main(argv: list[str]) -> None:
    if argv:
        folder = Path(argv[0])
        folder.mkdir(parents=True, exist_ok=True)
        vendor_crds.main([str(path) for path in generate(folder)])
        return
    with tempfile.TemporaryDirectory() as scratch:
        vendor_crds.main([str(path) for path in generate(Path(scratch))])


if __name__ == "__main__":
    main(sys.argv[1:])
