"""The development CA and certificates of a nasforge deployment (`make certs`, LocalStack).

One ECDSA P-256 CA signs a server certificate per gRPC service and a client certificate
per caller of the internal services:

    ca.crt  ca.key                    the CA (ca.key is never mounted anywhere)
    <service>.crt  <service>.key      server: SANs DNS:<service>, DNS:localhost, IP:127.0.0.1
    client-<name>.crt  client-<name>.key   client: CN <name>, no SAN

A certificate file holds the chain (the certificate, then the CA's), so that a server sends
it whole and its health check can trust the CA it carries. Server certificates are usable
as client certificates too (both extended key usages): the health check presents the
server's own one to a mutual-TLS server. gRPC's hostname check accepts the compose service
names (`search_core`, with its underscore) as DNS SANs; no target-name override is needed.
"""

import datetime
import ipaddress
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICES = ("search_core", "llm_gateway", "sandbox_runner", "trainer_svc")
SEARCH_CORE_CLIENT = "search-core"  # search_core's calls to the other three services
CLIENTS = (SEARCH_CORE_CLIENT,)
CA_VALID_DAYS = 3650
LEAF_VALID_DAYS = 825
CA_NAME = "nasforge development CA"

KeyWriter = Callable[[Path, str], None]


def ca_file(directory: Path) -> Path:
    return directory / "ca.crt"


def server_files(directory: Path, service: str) -> tuple[Path, Path]:
    """(certificate chain, key) of a service's server certificate."""
    return directory / f"{service}.crt", directory / f"{service}.key"


def client_files(directory: Path, name: str) -> tuple[Path, Path]:
    """(certificate chain, key) of a client certificate."""
    return directory / f"client-{name}.crt", directory / f"client-{name}.key"


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def _write_public(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o644)


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def new_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def issue(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    *,
    dns_names: Iterable[str] = (),
    ip_addresses: Iterable[str] = (),
    server: bool,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf certificate signed by ``ca``: for servers (and their health checks) with
    SANs and both extended key usages, for clients with clientAuth only."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if server:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=LEAF_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    cert_path, key_path = ca_file(directory), directory / "ca.key"
    if not (cert_path.is_file() and key_path.is_file()):
        return None
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    return x509.load_pem_x509_certificate(cert_path.read_bytes()), key


def write_dev_certificates(
    directory: Path,
    *,
    services: Iterable[str] = SERVICES,
    clients: Iterable[str] = CLIENTS,
    force: bool = False,
    write_key: KeyWriter = _write_private,
) -> list[Path]:
    """Create what is missing of the CA and the certificates in ``directory`` (``force``:
    a new CA and new certificates for everything); the files written.

    Leaf keys go through ``write_key`` (the compose secrets make them readable by the
    containers' user); the CA key is always 0600 and certificates 0644.
    """
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    written: list[Path] = []
    loaded = None if force else _load_ca(directory)
    renew_all = loaded is None
    if loaded is None:
        ca, ca_key = new_ca()
        _write_private(directory / "ca.key", _key_pem(ca_key))
        _write_public(ca_file(directory), _pem(ca))
        written += [ca_file(directory), directory / "ca.key"]
    else:
        ca, ca_key = loaded
    wanted = [(server_files(directory, s), s, True) for s in services]
    wanted += [(client_files(directory, c), c, False) for c in clients]
    for (cert_path, key_path), name, server in wanted:
        if not renew_all and cert_path.is_file() and key_path.is_file():
            continue
        certificate, key = issue(
            ca,
            ca_key,
            name,
            dns_names=[name, "localhost"] if server else [],
            ip_addresses=["127.0.0.1"] if server else [],
            server=server,
        )
        write_key(key_path, _key_pem(key))
        _write_public(cert_path, _pem(certificate) + _pem(ca))
        written += [cert_path, key_path]
    return written
