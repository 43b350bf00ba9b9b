"""Transport security: rpc.certs' certificates, and real grpc.aio servers on 127.0.0.1:0 with
TLS (the public port) and mutual TLS (between services), against real clients, the
container health check, and settings that must refuse to start."""

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from nasforge.llm_gateway.v1 import llm_gateway_pb2 as pb
from nasforge.llm_gateway.v1 import llm_gateway_pb2_grpc as pb_grpc
from rpc.certs import (
    CLIENTS,
    SERVICES,
    ca_file,
    client_files,
    server_files,
    write_dev_certificates,
)
from rpc.client import ClientTLS, open_channel
from rpc.server import start_server
from rpc.settings import ServerSettings, TransportSecurityError
from search_core.config import SearchCoreSettings
from tests.unit.rpc.conftest import TENANT_TOKEN
from tests.unit.rpc.fake_gateway import echo_binding

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVICE = "llm_gateway"
CLIENT = "search-core"


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    write_dev_certificates(directory)
    return directory


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory) -> Path:
    """A second, unrelated CA with the same names: its certificates must be refused."""
    directory = tmp_path_factory.mktemp("other-certs")
    write_dev_certificates(directory)
    return directory


def _mutual_settings(certs: Path, tokens_file: Path) -> ServerSettings:
    cert, key = server_files(certs, SERVICE)
    return ServerSettings(
        auth_tokens_file=tokens_file,
        tls_cert_file=cert,
        tls_key_file=key,
        tls_client_ca_file=ca_file(certs),
    )


def _public_settings(certs: Path, tokens_file: Path) -> ServerSettings:
    cert, key = server_files(certs, "search_core")
    return ServerSettings(auth_tokens_file=tokens_file, tls_cert_file=cert, tls_key_file=key)


@pytest.fixture
async def mutual_server(certs, tokens_file):
    running = await start_server([echo_binding()], _mutual_settings(certs, tokens_file))
    yield running
    await running.shutdown(0)


@pytest.fixture
async def public_server(certs, tokens_file):
    running = await start_server([echo_binding()], _public_settings(certs, tokens_file))
    yield running
    await running.shutdown(0)


def _client_tls(directory: Path, *, with_certificate: bool = True) -> ClientTLS:
    if not with_certificate:
        return ClientTLS(ca_file(directory))
    cert, key = client_files(directory, CLIENT)
    return ClientTLS(ca_file(directory), cert, key)


async def _generate(port: int, tls: ClientTLS | None) -> str:
    async with open_channel(f"127.0.0.1:{port}", token=TENANT_TOKEN, tls=tls) as channel:
        reply = await pb_grpc.LlmGatewayServiceStub(channel).Generate(
            pb.GenerateRequest(model="m", messages=[pb.ChatMessage(role="user", content="hi")]),
            timeout=5,
        )
    return reply.text


async def _refused(port: int, tls: ClientTLS | None) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await _generate(port, tls)
    return failure.value


# --- the certificates ---------------------------------------------------------------------


def _load_chain(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_ca_is_a_constrained_ca(certs):
    (ca,) = _load_chain(ca_file(certs))
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert ca.issuer == ca.subject
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 3649


@pytest.mark.parametrize("service", SERVICES)
def test_server_certificates_name_the_service_localhost_and_loopback(certs, service):
    cert_path, _ = server_files(certs, service)
    leaf, issuer = _load_chain(cert_path)  # the chain: the certificate, then the CA
    (ca,) = _load_chain(ca_file(certs))
    assert issuer == ca
    leaf.verify_directly_issued_by(ca)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [service, "localhost"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    extended = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(extended) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def test_client_certificate_is_for_client_auth_only(certs):
    cert_path, _ = client_files(certs, CLIENT)
    leaf, _ = _load_chain(cert_path)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "search-core"
    extended = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(extended) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_keys_are_private_and_certificates_kept_unless_forced(tmp_path):
    directory = tmp_path / "certs"
    first = write_dev_certificates(directory)
    assert len(first) == 2 + 2 * (len(SERVICES) + len(CLIENTS))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    keys = [directory / "ca.key", server_files(directory, SERVICE)[1]]
    keys.append(client_files(directory, CLIENT)[1])
    assert all(stat.S_IMODE(key.stat().st_mode) == 0o600 for key in keys)
    before = {path: path.read_bytes() for path in first}

    assert write_dev_certificates(directory) == []  # idempotent: everything kept
    assert {path: path.read_bytes() for path in first} == before

    server_files(directory, SERVICE)[0].unlink()  # a missing certificate is issued again
    assert write_dev_certificates(directory) == list(server_files(directory, SERVICE))
    assert ca_file(directory).read_bytes() == before[ca_file(directory)]

    renewed = write_dev_certificates(directory, force=True)
    assert sorted(renewed) == sorted(first)
    assert ca_file(directory).read_bytes() != before[ca_file(directory)]


def test_deploy_certs_command_writes_the_compose_certificates(tmp_path):
    directory = tmp_path / "compose-certs"
    done = subprocess.run(
        [sys.executable, "-m", "cli", "deploy", "certs", "--dir", str(directory)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert {path.name for path in directory.iterdir()} == {
        "ca.crt",
        "ca.key",
        *(f"{service}.{ext}" for service in SERVICES for ext in ("crt", "key")),
        "client-search-core.crt",
        "client-search-core.key",
    }
    key = server_files(directory, SERVICE)[1]
    if os.geteuid() == 0:  # chowned to the containers' user, as the other compose secrets
        assert (key.stat().st_uid, stat.S_IMODE(key.stat().st_mode)) == (10001, 0o600)
    assert (directory / "ca.key").stat().st_uid == os.geteuid()  # never the containers'


# --- mutual TLS between services ----------------------------------------------------------


async def test_mutual_tls_admits_a_client_with_a_certificate_of_the_ca(certs, mutual_server):
    assert await _generate(mutual_server.port, _client_tls(certs)) == "tenant=acme prompt=hi"


async def test_mutual_tls_refuses_a_client_without_a_certificate(certs, mutual_server):
    error = await _refused(mutual_server.port, _client_tls(certs, with_certificate=False))
    assert error.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_refuses_a_client_certificate_of_another_ca(
    certs, other_ca, mutual_server
):
    foreign_cert, foreign_key = client_files(other_ca, CLIENT)
    tls = ClientTLS(ca_file(certs), foreign_cert, foreign_key)  # trusts the server, but...
    error = await _refused(mutual_server.port, tls)
    assert error.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_client_refuses_a_server_certificate_of_another_ca(other_ca, mutual_server):
    error = await _refused(mutual_server.port, _client_tls(other_ca))
    assert error.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_plaintext_client_cannot_talk_to_a_tls_server(mutual_server):
    error = await _refused(mutual_server.port, None)
    assert error.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("name", "admitted"), [("llm_gateway", True), ("localhost", True), ("trainer_svc", False)]
)
async def test_the_hostname_check_accepts_the_compose_service_names(
    certs, mutual_server, name, admitted
):
    """The compose targets (`llm_gateway:50052`: an underscore) match the certificate's
    DNS SAN in gRPC's hostname check; another service's name does not."""
    cert, key = client_files(certs, CLIENT)
    credentials = grpc.ssl_channel_credentials(
        ca_file(certs).read_bytes(), key.read_bytes(), cert.read_bytes()
    )
    options = [("grpc.ssl_target_name_override", name)]
    target = f"127.0.0.1:{mutual_server.port}"
    async with grpc.aio.secure_channel(target, credentials, options=options) as channel:
        call = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        if admitted:
            assert (await call).status == health_pb2.HealthCheckResponse.SERVING
        else:
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await call
            assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


# --- TLS on the public port ---------------------------------------------------------------


async def test_public_tls_admits_a_client_with_only_the_ca(certs, public_server):
    tls = _client_tls(certs, with_certificate=False)
    assert await _generate(public_server.port, tls) == "tenant=acme prompt=hi"


async def test_public_tls_refuses_plaintext(public_server):
    error = await _refused(public_server.port, None)
    assert error.code() == grpc.StatusCode.UNAVAILABLE


# --- the container health check -----------------------------------------------------------


async def _healthcheck(port: int, env: dict[str, str], *prefix: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rpc.healthcheck",
        "grpc",
        str(port),
        *prefix,
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, output.decode()


def _env(prefix: str, settings: ServerSettings) -> dict[str, str]:
    names = ("tls_cert_file", "tls_key_file", "tls_client_ca_file")
    return {
        f"{prefix}{n.upper()}": str(getattr(settings, n)) for n in names if getattr(settings, n)
    }


async def test_healthcheck_speaks_mutual_tls_with_the_servers_own_settings(
    certs, tokens_file, mutual_server
):
    env = _env("NASFORGE_GATEWAY_", _mutual_settings(certs, tokens_file))
    code, output = await _healthcheck(mutual_server.port, env, "NASFORGE_GATEWAY_")
    assert (code, output.strip()) == (0, f"127.0.0.1:{mutual_server.port}: SERVING")
    code, output = await _healthcheck(mutual_server.port, env)  # no prefix: plaintext
    assert code == 1 and "UNAVAILABLE" in output


async def test_healthcheck_trusts_the_ca_of_the_chain_on_the_public_port(
    certs, tokens_file, public_server
):
    env = _env("NASFORGE_SEARCH_", _public_settings(certs, tokens_file))
    code, output = await _healthcheck(public_server.port, env, "NASFORGE_SEARCH_")
    assert (code, output.strip()) == (0, f"127.0.0.1:{public_server.port}: SERVING")


# --- settings that must not serve -----------------------------------------------------------


async def test_a_server_without_certificate_or_plaintext_refuses_to_start(tokens_file):
    with pytest.raises(TransportSecurityError) as refusal:
        await start_server([echo_binding()], ServerSettings(auth_tokens_file=tokens_file))
    message = str(refusal.value)
    assert "NASFORGE_TLS_CERT_FILE" in message and "NASFORGE_PLAINTEXT=true" in message


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"plaintext": True, "tls_cert_file": "x.crt"}, "contradicts NASFORGE_TLS_CERT_FILE"),
        ({"tls_cert_file": "x.crt"}, "must be set together"),
        ({"tls_key_file": "x.key"}, "must be set together"),
        ({"tls_cert_file": "/missing.crt", "tls_key_file": "/missing.key"}, "cannot read"),
    ],
)
async def test_incomplete_transport_settings_refuse_to_start(tokens_file, fields, named):
    settings = ServerSettings(auth_tokens_file=tokens_file, **fields)
    with pytest.raises(TransportSecurityError, match=named):
        await start_server([echo_binding()], settings)


def test_a_service_main_refuses_with_one_line_naming_both_settings(tmp_path):
    """`python -m search_core` without TLS settings: exit 1, one line, and no store opened
    (nothing resumed) before the refusal."""
    store = tmp_path / "store.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NASFORGE_")}
    env["NASFORGE_SEARCH_STORE_URL"] = str(store)
    env["NASFORGE_SEARCH_PORT"] = "0"
    done = subprocess.run(
        [sys.executable, "-m", "search_core"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "refusing to start: no transport security configured: set "
        "NASFORGE_SEARCH_TLS_CERT_FILE and NASFORGE_SEARCH_TLS_KEY_FILE, or "
        "NASFORGE_SEARCH_PLAINTEXT=true (local development only)"
    )
    assert not store.exists()


def test_search_core_calls_its_dependencies_with_tls_unless_plaintext(certs):
    with pytest.raises(TransportSecurityError, match="NASFORGE_SEARCH_CLIENT_CA_FILE"):
        SearchCoreSettings().dependency_tls()
    assert SearchCoreSettings(plaintext=True).dependency_tls() is None
    cert, key = client_files(certs, CLIENT)
    tls = SearchCoreSettings(
        client_ca_file=ca_file(certs), client_cert_file=cert, client_key_file=key
    ).dependency_tls()
    assert tls == ClientTLS(ca_file(certs), cert, key)
    with pytest.raises(TransportSecurityError, match="must be set together"):
        SearchCoreSettings(client_ca_file=ca_file(certs), client_cert_file=cert).dependency_tls()


def test_client_tls_needs_both_certificate_and_key(certs):
    with pytest.raises(ValueError, match="needs its key"):
        ClientTLS(ca_file(certs), client_files(certs, CLIENT)[0])
