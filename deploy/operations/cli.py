"""`stax`: the operator CLI of an installation (product brief §6).

It reaches Kafka as the admin principal and PostgreSQL with the services' own settings
(STAX_KAFKA_*, STAX_DATABASE_URL); on the local stack, `eval "$(stax-local env)"` sets them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated
from uuid import UUID

import typer

from deploy.operations import keys
from deploy.operations.kafka_admin import KafkaAdmin, KafkaAdminError
from deploy.operations.provision import provision
from deploy.operations.requests import erase as erase_request
from deploy.operations.settings import OperationsError, OperationsSettings
from shared import auth
from shared.kafka_access import KafkaAccess
from shared.kafka_acls import TenantKind, check_tenant_id
from shared.settings import ServiceSettings

app = typer.Typer(help="STAX operator CLI", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="API keys: create (shown once), list, revoke", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

kafka_app = typer.Typer(
    help="Kafka tenants: partners and upstream systems as authenticated principals",
    no_args_is_help=True,
)
app.add_typer(kafka_app, name="kafka")

requests_app = typer.Typer(help="Requests: operators' commands", no_args_is_help=True)
app.add_typer(requests_app, name="requests")


def _admin() -> KafkaAccess:
    """The admin principal, from the STAX_KAFKA_* settings every STAX process reads."""
    return ServiceSettings().kafka


def _database_url() -> str:
    return ServiceSettings().database_url


@app.command("init")
def init() -> None:
    """Create the topics, the services' principals and ACLs (given STAX_KAFKA_PASSWORD_*) and
    apply every migration on STAX_KAFKA_BOOTSTRAP_SERVERS and STAX_DATABASE_URL (what a compose
    or Kubernetes deployment runs once before the services)."""
    passwords = OperationsSettings().service_passwords()
    asyncio.run(provision(_admin(), _database_url(), passwords, log=typer.echo))


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="submitter, partner or operator")],
    partner: Annotated[str | None, typer.Option(help="Partner id (partner keys only)")] = None,
    submitter: Annotated[
        str | None,
        typer.Option(
            help="Submitter id (submitter keys only): the namespace of its requests, shared with "
            "the Kafka tenant of that name; a new unique one if omitted"
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Who or what uses the key")] = None,
) -> None:
    """Create a key; it is printed once, on the last line, and stored only as a hash."""
    if role not in auth.ROLES:
        raise typer.BadParameter(
            f"role must be one of {', '.join(auth.ROLES)}", param_hint="--role"
        )
    label = name or partner or submitter or role
    principal, key = asyncio.run(keys.create(_database_url(), role, label, partner, submitter))
    typer.echo(
        f"created key {principal.key_id}: role={principal.role} name={principal.name}"
        + (f" partner={principal.partner_id}" if principal.partner_id else "")
        + (f" submitter={principal.submitter_id}" if principal.submitter_id else "")
    )
    typer.echo("store it now; it cannot be shown again:", err=True)
    typer.echo(key)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, role, name, partner, created, revoked (never the key itself)."""
    for info in asyncio.run(keys.list_all(_database_url())):
        p = info.principal
        revoked = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
        typer.echo(
            f"{p.key_id}  {p.role:<9} {p.name:<24} {p.partner_id or p.submitter_id or '-':<24} "
            f"{info.created_at:%Y-%m-%d %H:%M}  {revoked}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `stax keys list`)")],
) -> None:
    """Revoke a key; services refuse it within seconds."""
    if not asyncio.run(keys.revoke(_database_url(), key_id)):
        typer.echo(f"no active key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@requests_app.command("erase")
def requests_erase(
    request_id: Annotated[UUID, typer.Argument(help="The request whose personal data goes")],
) -> None:
    """Erase a request's personal data (its contact) in every service: intake records it and
    emits ta.request.erased, which each service applies. Needs STAX_OPERATOR_KEY; asking again
    changes nothing. Records already on Kafka stay until the topics' retention removes them."""
    answer = erase_request(OperationsSettings(), request_id)
    typer.echo(f"erasure of {answer['request_id']} recorded at {answer['erased_at']}")


Kind = Annotated[str, typer.Argument(help="partner or submitter", metavar="partner|submitter")]
TenantId = Annotated[str, typer.Argument(help="The partner's id, or the upstream system's name")]


def _tenant(kind: str, tenant: str) -> tuple[TenantKind, str]:
    if kind not in ("partner", "submitter"):
        raise typer.BadParameter("must be partner or submitter", param_hint="KIND")
    try:
        check_tenant_id(tenant)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="ID") from exc
    return ("partner" if kind == "partner" else "submitter"), tenant


@kafka_app.command("grant")
def kafka_grant(kind: Kind, tenant: TenantId) -> None:
    """Create the tenant's topics, principal and ACLs; print its client settings (JSON, last
    line). Granting again rotates the password."""
    kind_, tenant = _tenant(kind, tenant)
    granted = KafkaAdmin(_admin()).grant(kind_, tenant)
    typer.echo(f"granted {granted.principal}: topics {', '.join(granted.topics)}")
    typer.echo("librdkafka client properties (store the password now; it is not kept):", err=True)
    typer.echo(json.dumps(granted.client))


@kafka_app.command("revoke")
def kafka_revoke(kind: Kind, tenant: TenantId) -> None:
    """Remove the tenant's ACLs at once and make its password useless; connections opened
    before end at their next re-authentication (connections.max.reauth.ms)."""
    kind_, tenant = _tenant(kind, tenant)
    removed = KafkaAdmin(_admin()).revoke(kind_, tenant)
    typer.echo(f"revoked {kind_}-{tenant}: {removed} ACLs removed, password replaced")


@kafka_app.command("admin-config")
def kafka_admin_config() -> None:
    """Print the admin principal's librdkafka client properties (JSON, last line)."""
    typer.echo(json.dumps(_admin().librdkafka()))


def main() -> None:
    try:
        app(prog_name="stax")  # also when run as `python -m deploy.operations` (stax-local ops)
    except (OperationsError, KafkaAdminError, ValueError, OSError) as exc:
        typer.echo(f"stax: {exc}", err=True)
        raise SystemExit(1) from exc
