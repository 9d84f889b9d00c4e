"""One-shot `kafka-secrets` step of deploy/compose: the broker's TLS material, made once.

    python make_tls.py TLS_DIR CA_DIR

Writes TLS_DIR/ca.crt and TLS_DIR/broker-keystore.pem (key + chain; mode 0600, owned by the
broker's uid) with the same code as the local stack (`deploy.operations.kafka_tls`), and copies
ca.crt to CA_DIR, the only volume the STAX containers mount. The CA's private key is never kept.
The certificate names `kafka` (the containers' address), localhost, 127.0.0.1 and
STAX_KAFKA_EXTERNAL_HOST; when that host changes, both files are made anew (clients then need
the new ca.crt). Passwords are not made here: they come from deploy/compose/.env.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from cryptography import x509

from deploy.operations.kafka_tls import ensure_certificates

KEYSTORE = "broker-keystore.pem"
CA = "ca.crt"
# apache/kafka images run the broker as `appuser`, uid 1000.
DEFAULT_BROKER_UID = 1000


def hosts(external_host: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(("kafka", "localhost", "127.0.0.1", external_host)))


def names_in(keystore: Path) -> set[str]:
    """The DNS names and IP addresses the existing broker certificate is valid for."""
    leaf = x509.load_pem_x509_certificates(keystore.read_bytes())[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {
        *san.get_values_for_type(x509.DNSName),
        *map(str, san.get_values_for_type(x509.IPAddress)),
    }


def make(tls: Path, ca: Path, external_host: str, broker_uid: int) -> None:
    keystore = tls / KEYSTORE
    wanted = hosts(external_host)
    if keystore.is_file() and not set(wanted) <= names_in(keystore):
        sys.stderr.write(f"kafka-secrets: certificate lacks one of {wanted}: making a new CA\n")
        keystore.unlink()
        (tls / CA).unlink(missing_ok=True)
    ensure_certificates(tls, wanted)
    if os.geteuid() == 0:  # in the container: hand the key to the broker's user alone
        os.chown(keystore, broker_uid, -1)
    keystore.chmod(0o600)
    ca.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tls / CA, ca / CA)
    (ca / CA).chmod(0o644)


if __name__ == "__main__":
    make(
        Path(sys.argv[1]),
        Path(sys.argv[2]),
        os.environ.get("STAX_KAFKA_EXTERNAL_HOST") or "localhost",
        int(os.environ.get("STAX_KAFKA_UID") or DEFAULT_BROKER_UID),
    )
