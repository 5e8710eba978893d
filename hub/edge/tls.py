"""HTTPS for phones: a local certificate authority and the hub's certificate, made once.

Browsers give a page the camera, the microphone and the location only over HTTPS (or on
localhost). A district's LAN rarely has a public name for a public CA to certify, so
``skyhub run --https`` / ``skyhub demo --https`` make their own: a CA (kept in
``<data>/tls/ca.key``, never served) and a server certificate it signs for the configured host
names, ``localhost`` and this machine's addresses. Each phone trusts the CA once (``/ca`` says how,
``/ca.crt`` is the file); a new address later gets a new server certificate from the same CA, so
phones need not trust anything again.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)

TLS_DIR = "tls"
"""Under the data directory."""
CA_DAYS = 3650
SERVER_DAYS = 825
"""The longest validity iOS accepts for a server certificate."""
RENEW_BEFORE_DAYS = 30
"""A server certificate this close to its end is made anew."""
CA_NAME = "skyhub local CA"


@dataclass(frozen=True)
class LocalCA:
    """The files of a hub's own CA and its server certificate."""

    dir: Path
    """``<data>/tls``."""

    @property
    def ca_cert(self) -> Path:
        """The CA certificate phones trust (served at ``/ca.crt``)."""
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        """The CA's private key (never served)."""
        return self.dir / "ca.key"

    @property
    def cert(self) -> Path:
        """The server certificate (and the CA after it: the chain uvicorn sends)."""
        return self.dir / "server.crt"

    @property
    def key(self) -> Path:
        """The server certificate's key."""
        return self.dir / "server.key"


def local_ca(data_dir: Path) -> LocalCA:
    """Where a hub keeps its CA (the files may not exist yet)."""
    return LocalCA(Path(data_dir) / TLS_DIR)


def machine_names(hosts: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """``(DNS names, IP addresses)`` a server certificate should cover: ``hosts``, localhost, this
    machine's name and its addresses."""
    names: set[str] = {"localhost"}
    addresses: set[str] = {"127.0.0.1", "::1"}
    for host in [*hosts, socket.gethostname(), socket.getfqdn()]:
        if not host or host in ("0.0.0.0", "::"):
            continue
        try:
            addresses.add(str(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            names.add(host.lower())
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            addresses.add(str(info[4][0]).split("%", 1)[0])
    except OSError:
        pass
    # The address the machine would reach the LAN from (no packet is sent for a UDP "connect").
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((probe, 9))
                addresses.add(str(s.getsockname()[0]).split("%", 1)[0])
        except OSError:
            pass
    return sorted(names), sorted(addresses)


def ensure(data_dir: Path, hosts: Iterable[str] = ()) -> LocalCA:
    """The hub's CA and a server certificate covering ``hosts`` and this machine; made only when
    missing, about to expire, or not covering every name (the CA is kept)."""
    ca = local_ca(data_dir)
    ca.dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    if not (ca.ca_cert.exists() and ca.ca_key.exists()):
        _make_ca(ca, now)
        logger.info("tls: made a local CA in %s", ca.dir)
    names, addresses = machine_names(hosts)
    if _server_current(ca, names, addresses, now):
        return ca
    _make_server(ca, names, addresses, now)
    logger.info("tls: made a server certificate for %s", ", ".join(names + addresses))
    return ca


def _write(path: Path, data: bytes, private: bool) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _make_ca(ca: LocalCA, now: dt.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{CA_NAME} ({socket.gethostname()})"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "skyhub"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(ca.ca_key, _pem_key(key), private=True)
    _write(ca.ca_cert, cert.public_bytes(serialization.Encoding.PEM), private=False)


def _server_current(ca: LocalCA, names: list[str], addresses: list[str], now: dt.datetime) -> bool:
    if not (ca.cert.exists() and ca.key.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificates(ca.cert.read_bytes())[0]
        issuer = x509.load_pem_x509_certificate(ca.ca_cert.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    have_names = set(san.get_values_for_type(x509.DNSName))
    have_addresses = {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    return (
        cert.issuer == issuer.subject
        and cert.not_valid_after_utc - now > dt.timedelta(days=RENEW_BEFORE_DAYS)
        and set(names) <= have_names
        and set(addresses) <= have_addresses
        and mismatch(ca.cert, ca.key) is None
    )


def _make_server(ca: LocalCA, names: list[str], addresses: list[str], now: dt.datetime) -> None:
    ca_key = serialization.load_pem_private_key(ca.ca_key.read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(ca.ca_cert.read_bytes())
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "skyhub")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(ca.key, _pem_key(key), private=True)
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    _write(ca.cert, chain, private=False)


def mismatch(cert_path: Path, key_path: Path) -> str | None:
    """Why this certificate and key cannot serve HTTPS together (``None`` when they can)."""
    try:
        certs = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())
    except OSError as exc:
        return f"cannot read the certificate {cert_path}: {exc.strerror or exc}"
    except ValueError:
        return f"{cert_path} holds no PEM certificate"
    try:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), None)
    except OSError as exc:
        return f"cannot read the key {key_path}: {exc.strerror or exc}"
    except (ValueError, TypeError):
        return f"{key_path} holds no unencrypted PEM private key"
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if certs[0].public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        return f"the certificate {cert_path} does not match the key {key_path} (it was made for another key)"
    return None
