"""`nasforge tenant`: tenants, their quotas and their API tokens, in the registry every
service reads (rpc.tenants). Services pick up changes within about a second, no restart.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from cli.common import EXIT_USAGE
from rpc.tenants import (
    QUOTA_NAMES,
    Quotas,
    Registry,
    RegistryError,
    TokenConfigError,
    edit_registry,
    parse_quota,
    read_registry,
)

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "var" / "compose" / "secrets" / "tokens.json"


def register(commands) -> None:
    tenant = commands.add_parser("tenant", help="tenants, quotas and API tokens")
    tenant.add_argument(
        "--file",
        type=Path,
        default=None,
        help=f"the token file (default: $NASFORGE_TENANTS_FILE, else {DEFAULT_FILE})",
    )
    tenant_commands = tenant.add_subparsers(
        dest="tenant_command", required=True, parser_class=type(tenant)
    )
    quota_help = f"KEY=VALUE, KEY one of {', '.join(QUOTA_NAMES)}"
    create = tenant_commands.add_parser("create", help="add a tenant (without a token)")
    create.add_argument("name")
    create.add_argument(
        "--quota", action="append", default=[], metavar="KEY=VALUE", help=quota_help
    )
    create.set_defaults(handler=_run, tenant_handler=_create)
    quota = tenant_commands.add_parser("quota", help="set quotas of a tenant (KEY= unsets)")
    quota.add_argument("name")
    quota.add_argument("settings", nargs="+", metavar="KEY=VALUE", help=quota_help)
    quota.set_defaults(handler=_run, tenant_handler=_quota)
    token_add = tenant_commands.add_parser("token-add", help="issue a token (printed once)")
    token_add.add_argument("name")
    token_add.add_argument("--label", default=None, help="what the token is for, e.g. ci")
    token_add.set_defaults(handler=_run, tenant_handler=_token_add)
    revoke = tenant_commands.add_parser("token-revoke", help="revoke a token by its id")
    revoke.add_argument("token_id")
    revoke.set_defaults(handler=_run, tenant_handler=_token_revoke)
    listing = tenant_commands.add_parser("list", help="tenants, quotas and token ids")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(handler=_run, tenant_handler=_list)
    for sub in (create, quota, token_add, revoke, listing):  # --file after the command too
        sub.add_argument("--file", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _registry_file(args: argparse.Namespace) -> Path:
    if args.file is not None:
        return args.file
    return Path(os.environ.get("NASFORGE_TENANTS_FILE") or DEFAULT_FILE)


def _quota_changes(settings: list[str]) -> dict[str, int | float | None]:
    changes = {}
    for setting in settings:
        key, equals, value = setting.partition("=")
        if not equals:
            raise RegistryError(f"quota {setting!r} is not KEY=VALUE")
        changes[key] = parse_quota(key, value)
    return changes


def _quota_text(quotas: Quotas) -> str:
    values = quotas.to_dict()
    return ", ".join(f"{k}={v}" for k, v in values.items()) if values else "service defaults"


def _create(args: argparse.Namespace, path: Path) -> None:
    changes = _quota_changes(args.quota)
    with edit_registry(path) as registry:
        registry.add_tenant(args.name, Quotas(**changes))
    print(f"tenant {args.name} created ({_quota_text(Quotas(**changes))}) in {path}")


def _quota(args: argparse.Namespace, path: Path) -> None:
    changes = _quota_changes(args.settings)
    with edit_registry(path) as registry:
        quotas = registry.set_quotas(args.name, changes)
    print(f"tenant {args.name}: {_quota_text(quotas)}")


def _token_add(args: argparse.Namespace, path: Path) -> None:
    with edit_registry(path) as registry:
        issued = registry.add_token(args.name, label=args.label)
    print(f"token id: {issued.id}")
    print(f"token: {issued.token}")
    print("the token is shown only now; the file keeps its SHA-256 digest", file=sys.stderr)


def _token_revoke(args: argparse.Namespace, path: Path) -> None:
    with edit_registry(path) as registry:
        token = registry.revoke_token(args.token_id)
    print(f"token {token.id} ({token.principal.name}) revoked at {token.revoked}")


def _listing(registry: Registry) -> dict:
    """Everything but the digests."""
    tokens = [
        {k: v for k, v in token.to_dict().items() if k != "sha256"} for token in registry.tokens
    ]
    tenants = {
        name: {"created": record.created, "quotas": record.quotas.to_dict()}
        for name, record in sorted(registry.tenants.items())
    }
    return {"tenants": tenants, "tokens": tokens}


def _list(args: argparse.Namespace, path: Path) -> None:
    listing = _listing(read_registry(path))
    if args.json:
        print(json.dumps(listing, indent=1))
        return
    for name, tenant in listing["tenants"].items():
        print(f"tenant {name} (created {tenant['created'] or 'unknown'})")
        print(f"  quotas: {_quota_text(Quotas(**tenant['quotas']))}")
        for token in listing["tokens"]:
            if token.get("tenant") == name:
                print("  " + _token_line(token))
    services = [token for token in listing["tokens"] if "service" in token]
    if services:
        print("services")
        for token in services:
            print(f"  {_token_line(token)} service={token['service']}")


def _token_line(token: dict) -> str:
    state = f"revoked {token['revoked']}" if token["revoked"] else "active"
    label = f" label={token['label']}" if token.get("label") else ""
    return (
        f"token {token['id'] or '(no id)'}{label} created {token['created'] or 'unknown'} {state}"
    )


def _run(args: argparse.Namespace) -> int:
    path = _registry_file(args)
    try:
        args.tenant_handler(args, path)
    except (RegistryError, TokenConfigError) as exc:
        print(f"nasforge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError:
        print(f"nasforge: error: no token file at {path}", file=sys.stderr)
        return EXIT_USAGE
    except PermissionError as exc:
        print(f"nasforge: error: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    return 0
