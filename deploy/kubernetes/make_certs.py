"""TLS certificates for nasforge on Kubernetes, named by the Services' DNS names.

`nasforge deploy certs` (rpc.certs.write_dev_certificates) issues each server certificate
for its compose service name (`llm_gateway`), `localhost` and 127.0.0.1, and takes no other
names. On Kubernetes search-core calls the services by their Service names
(`llm-gateway:50052`, `dns:///trainer-svc.nasforge.svc.cluster.local:50054`), so their
certificates must name those. This script uses rpc.certs' own CA and `issue` with the
Kubernetes names, and writes the files under the keys of the Secret `nasforge-certs`
(secrets.example.yaml):

    ca.crt  ca.key                  the CA (kept when it exists; ca.key goes into no Secret)
    <service>.crt  <service>.key    search-core, llm-gateway, sandbox-runner, trainer-svc:
                                    SANs <service>, <service>.<ns>, <service>.<ns>.svc,
                                    <service>.<ns>.svc.<cluster domain>, localhost, 127.0.0.1
                                    (the exec probe's rpc.healthcheck dials 127.0.0.1), and
                                    for search-core every --public-name
    client-search-core.crt/.key     search-core's client certificate (mutual TLS), CN search-core

Certificate files hold the chain (the certificate, then the CA's), as rpc.certs writes them:
search-core's probe trusts the CA its own chain carries. Leaf certificates are issued anew
on every run; `--force` makes a new CA too (then every client needs the new ca.crt).

    .venv/bin/python deploy/kubernetes/make_certs.py --dir var/k8s/certs \\
        [--namespace nasforge] [--cluster-domain cluster.local] [--public-name HOST ...]
"""

import argparse
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from rpc.certs import SEARCH_CORE_CLIENT, issue, new_ca

NAMESPACE = "nasforge"
CLUSTER_DOMAIN = "cluster.local"
SERVICES = ("search-core", "llm-gateway", "sandbox-runner", "trainer-svc")
PUBLIC_SERVICE = "search-core"
LOOPBACK = ("localhost",)
LOOPBACK_IPS = ("127.0.0.1",)
SECRET_KEYS = (
    "ca.crt",
    *(f"{s}.{suffix}" for s in SERVICES for suffix in ("crt", "key")),
    f"client-{SEARCH_CORE_CLIENT}.crt",
    f"client-{SEARCH_CORE_CLIENT}.key",
)


def service_names(
    service: str, namespace: str = NAMESPACE, cluster_domain: str = CLUSTER_DOMAIN
) -> list[str]:
    """The DNS names of a Service inside the cluster, shortest first."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.{cluster_domain}",
    ]


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _write(path: Path, text: str, mode: int) -> None:
    path.touch(mode=mode)
    path.chmod(mode)
    path.write_text(text)


def _ca(directory: Path, force: bool):
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    if not force and cert_path.is_file() and key_path.is_file():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    ca, ca_key = new_ca()
    _write(key_path, _key_pem(ca_key), 0o600)
    _write(cert_path, _pem(ca), 0o644)
    return ca, ca_key


def write_certificates(
    directory: Path,
    *,
    namespace: str = NAMESPACE,
    cluster_domain: str = CLUSTER_DOMAIN,
    public_names: tuple[str, ...] | list[str] = (),
    force: bool = False,
) -> list[Path]:
    """Write the CA (unless it exists and not ``force``) and every leaf; the Secret's files."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    ca, ca_key = _ca(directory, force)
    leaves = [(s, s, True) for s in SERVICES]
    leaves.append((f"client-{SEARCH_CORE_CLIENT}", SEARCH_CORE_CLIENT, False))
    for name, common_name, server in leaves:
        dns_names: list[str] = []
        ip_addresses: list[str] = []
        if server:
            dns_names = service_names(name, namespace, cluster_domain) + list(LOOPBACK)
            ip_addresses = list(LOOPBACK_IPS)
            if name == PUBLIC_SERVICE:
                for extra in public_names:
                    try:
                        ip_addresses.append(str(ipaddress.ip_address(extra)))
                    except ValueError:
                        dns_names.append(extra)
        certificate, key = issue(
            ca,
            ca_key,
            common_name,
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            server=server,
        )
        _write(directory / f"{name}.key", _key_pem(key), 0o600)
        _write(directory / f"{name}.crt", _pem(certificate) + _pem(ca), 0o644)
    return [directory / key for key in SECRET_KEYS]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--namespace", default=NAMESPACE)
    parser.add_argument("--cluster-domain", default=CLUSTER_DOMAIN)
    parser.add_argument(
        "--public-name",
        action="append",
        default=[],
        help="a name (or IP) clients outside the cluster reach search-core by (repeat)",
    )
    parser.add_argument("--force", action="store_true", help="a new CA as well")
    args = parser.parse_args(argv)
    files = write_certificates(
        args.dir,
        namespace=args.namespace,
        cluster_domain=args.cluster_domain,
        public_names=args.public_name,
        force=args.force,
    )
    from_files = " ".join(f"--from-file={path}" for path in files)
    print(f"certificates in {args.dir} (ca.key stays there). The Secret:")
    print(f"  kubectl -n {args.namespace} create secret generic nasforge-certs {from_files}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
