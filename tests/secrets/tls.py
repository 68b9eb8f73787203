"""A private CA, a server certificate it signs, and the sandbox served over TLS with it.

`tls_sandbox` builds the sandbox as `run_sandbox` does, then wraps its listening socket in an
`ssl.SSLContext`, so the action talks to it at `https://127.0.0.1:<port>` exactly as it would to a
JFrog server whose certificate a company CA signed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from artifactory_sandbox.app import SandboxConfig
from artifactory_sandbox.server import create_server

VALID_FOR = dt.timedelta(days=2)
POLL_S = 0.02


@dataclass(frozen=True)
class PrivateCA:
    ca_pem: Path  # what a user puts in ca-bundle
    cert_pem: Path  # the server's certificate
    key_pem: Path  # and its key


@dataclass(frozen=True)
class TLSSandbox:
    url: str
    admin_token: str
    ca_bundle: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(folder: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> PrivateCA:
    """A CA and a server certificate for `hosts` (IP addresses or names), written as PEM files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("ml-artifactory-action test CA"))
        .issuer_name(_name("ml-artifactory-action test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    found = PrivateCA(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    found.ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    found.cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    found.key_pem.write_bytes(_pem(key))
    return found


@contextmanager
def tls_sandbox(data_dir: Path, ca: PrivateCA) -> Iterator[TLSSandbox]:
    """The sandbox on a free port of 127.0.0.1, speaking only TLS with `ca`'s server certificate."""
    token = secrets.token_urlsafe(24)
    server = create_server(SandboxConfig(data_dir=data_dir, admin_token=token, port=0, xray_index_delay=0.2))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca.cert_pem, ca.key_pem)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_S}, daemon=True)
    thread.start()
    try:
        yield TLSSandbox(f"https://127.0.0.1:{server.server_address[1]}", token, ca.ca_pem)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        server.ctx.close()
