"""`nasforge deploy secrets|certs`: what a compose deployment needs (kept when they exist)."""

import os
from pathlib import Path

from cli.secrets import write_container_secret, write_deployment_secrets

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO_ROOT / "var" / "compose" / "secrets"
DEFAULT_CERTS_DIR = REPO_ROOT / "var" / "compose" / "certs"


def register(commands) -> None:
    deploy = commands.add_parser("deploy", help="what a compose deployment needs")
    deploy_commands = deploy.add_subparsers(
        dest="deploy_command", required=True, parser_class=type(deploy)
    )
    make = deploy_commands.add_parser(
        "secrets", help="create tokens and the database password (kept when they exist)"
    )
    make.add_argument(
        "--dir", type=Path, default=Path(os.environ.get("NASFORGE_SECRETS_DIR", DEFAULT_DIR))
    )
    make.add_argument(
        "--tenant", action="append", default=None, help="a tenant to issue a token for (repeat)"
    )
    make.set_defaults(handler=_run_secrets)
    certs = deploy_commands.add_parser(
        "certs", help="create a development CA and the services' TLS certificates (kept)"
    )
    certs.add_argument(
        "--dir", type=Path, default=Path(os.environ.get("NASFORGE_CERTS_DIR", DEFAULT_CERTS_DIR))
    )
    certs.add_argument("--force", action="store_true", help="a new CA and new certificates")
    certs.set_defaults(handler=_run_certs)


def _run_secrets(args) -> int:
    files = write_deployment_secrets(args.dir, args.tenant or ["demo"])
    print(f"secrets in {args.dir}")
    for tenant, path in files.items():
        print(f"  tenant {tenant}: token in {path}")
    return 0


def _run_certs(args) -> int:
    from rpc.certs import write_dev_certificates

    # Keys are mounted into the containers as compose secrets: readable by their user.
    written = write_dev_certificates(args.dir, force=args.force, write_key=write_container_secret)
    print(f"certificates in {args.dir}: {len(written)} files written, the others kept")
    return 0
