"""What several `nasforge` commands share: the usage error, store options, and the options
that reach a service (address, token, TLS) or else the running local stack."""

import argparse
import os
from pathlib import Path

from rpc.client import ClientTLS

EXIT_USAGE = 2
DEFAULT_STORE_URL = "var/nasforge.db"
STORE_URL_ENV = "NASFORGE_SEARCH_STORE_URL"  # the same store search_core uses


class UsageError(ValueError):
    """Bad command-line values; reported in one line with exit status 2."""


# The store (sqlite3/psycopg) loads only when a command opens it.


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", help=f"store URL (default: ${STORE_URL_ENV}, else {DEFAULT_STORE_URL})"
    )


def store_url(args: argparse.Namespace) -> str:
    """--store, else $NASFORGE_SEARCH_STORE_URL, else var/nasforge.db (search_core's default)."""
    return args.store or os.environ.get(STORE_URL_ENV) or DEFAULT_STORE_URL


def open_store(args: argparse.Namespace):
    """The store of --store (see store_url); a URL of no known kind is a usage error."""
    from search_core.store import open_store as open_url

    try:
        return open_url(store_url(args))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def add_connection_arguments(
    parser: argparse.ArgumentParser, flag: str, service: str, *, client_certificate: bool
) -> None:
    """``flag`` (the service's address), --token-file and the TLS options."""
    parser.add_argument(
        flag,
        dest="target",
        metavar=flag.removeprefix("--").upper(),
        help=f"{service} address (default: the local stack)",
    )
    parser.add_argument("--token-file", type=Path, help="file holding the bearer token")
    add_tls_arguments(parser, client_certificate=client_certificate)


def add_tls_arguments(parser: argparse.ArgumentParser, *, client_certificate: bool) -> None:
    """--ca-file (and --cert-file/--key-file) for an address given with --target."""
    parser.add_argument("--ca-file", type=Path, help="CA of the server's certificate (TLS)")
    if client_certificate:
        parser.add_argument("--cert-file", type=Path, help="client certificate (mutual TLS)")
        parser.add_argument("--key-file", type=Path, help="private key of --cert-file")
    parser.add_argument(
        "--plaintext", action="store_true", help="no TLS (local development servers only)"
    )


def tls_from_args(args: argparse.Namespace) -> ClientTLS | None:
    if args.ca_file is None:
        return None
    return ClientTLS(
        args.ca_file, getattr(args, "cert_file", None), getattr(args, "key_file", None)
    )


def connection_from_args(
    args: argparse.Namespace, service: str
) -> tuple[str, str, ClientTLS | None]:
    """(address, token, TLS) from the options of add_connection_arguments."""
    return connection(
        service, args.target, args.token_file, tls=tls_from_args(args), plaintext=args.plaintext
    )


def connection(
    service: str,
    target: str | None,
    token_file: Path | None,
    *,
    tls: ClientTLS | None = None,
    plaintext: bool = False,
) -> tuple[str, str, ClientTLS | None]:
    """(address, token, TLS) of a service: the ones given, else the running local stack's.

    A given address needs ``tls`` unless ``plaintext`` says explicitly that it has none.
    """
    if target:
        if not token_file:
            raise UsageError(f"an address for {service} needs --token-file")
        if tls is None and not plaintext:
            raise UsageError(
                f"an address for {service} needs --ca-file (or --plaintext for a local "
                "development server)"
            )
        return target, token_file.read_text().strip(), tls
    from localstack import read_description

    description = read_description()
    token = token_file.read_text().strip() if token_file else description["token"]
    files = description.get("tls")
    if files is None:
        stack_tls = None
    elif service == "search_core":  # the public port asks for no client certificate
        stack_tls = ClientTLS(Path(files["ca_file"]))
    else:
        stack_tls = ClientTLS(
            Path(files["ca_file"]), Path(files["cert_file"]), Path(files["key_file"])
        )
    return description[service], token, stack_tls
