"""A Kafka broker's trust material: a CA and a broker certificate, made once per folder (the local
stack's STAX_HOME, or deploy/compose's `kafka-secrets` step, which runs in the production image).

PEM files, because Kafka reads them directly (`ssl.keystore.type=PEM`) and every client library
STAX uses takes a CA file: no keytool, no PKCS#12 passwords. The CA's private key is not kept:
nothing else is ever signed with it, so a stolen STAX_HOME cannot mint certificates.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CA_DAYS = 3650
_LEAF_DAYS = 825  # the longest lifetime clients commonly accept for a server certificate


def ensure_certificates(folder: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> None:
    """Write `ca.crt` and `broker-keystore.pem` (key + chain, mode 0600) unless both exist."""
    ca_file, keystore = folder / "ca.crt", folder / "broker-keystore.pem"
    if ca_file.is_file() and keystore.is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _ca_certificate(ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf_certificate(key, ca, ca_key, hosts)
    pem = serialization.Encoding.PEM
    # Kafka loads PKCS#8 only ("BEGIN PRIVATE KEY"); the leaf comes first, then its CA.
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keystore.touch(mode=0o600)
    keystore.write_bytes(key_pem + leaf.public_bytes(pem) + ca.public_bytes(pem))
    ca_file.write_bytes(ca.public_bytes(pem))  # written last: its presence means "done"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder: x509.CertificateBuilder, days: int) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return builder.not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(
        now + dt.timedelta(days=days)
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    usage = x509.KeyUsage(
        digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("stax-local-kafka-ca"))
        .issuer_name(_name("stax-local-kafka-ca"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
    )
    return _validity(builder, _CA_DAYS).sign(key, hashes.SHA256())


def _leaf_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    hosts: tuple[str, ...],
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    return _validity(builder, _LEAF_DAYS).sign(ca_key, hashes.SHA256())


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)
