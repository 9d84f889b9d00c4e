"""`stax`: the one operator CLI (product brief §6)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer

from deploy.local import keys, stack
from deploy.local.demo import run_demo
from deploy.local.kafka import KafkaSetupError
from deploy.local.kafka_admin import KafkaAdmin, KafkaAdminError
from deploy.local.postgres import PostgresSetupError
from deploy.local.requests import erase as erase_request
from shared import auth
from shared.kafka_acls import TenantKind, check_tenant_id

app = typer.Typer(help="STAX operator CLI", no_args_is_help=True, add_completion=False)
stack_app = typer.Typer(
    help="The local stack: Kafka, PostgreSQL, topics, the three services", no_args_is_help=True
)
app.add_typer(stack_app, name="stack")
keys_app = typer.Typer(help="API keys: create (shown once), list, revoke", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

kafka_app = typer.Typer(
    help="Kafka tenants: partners and upstream systems as authenticated principals",
    no_args_is_help=True,
)
app.add_typer(kafka_app, name="kafka")

requests_app = typer.Typer(help="Requests: operators' commands", no_args_is_help=True)
app.add_typer(requests_app, name="requests")

Service = Annotated[str, typer.Argument(help="intake, matcher or notifier")]


def _settings() -> stack.StackSettings:
    return stack.StackSettings()


@stack_app.command("up")
def stack_up(
    wait: Annotated[bool, typer.Option(help="Return once every service is ready")] = False,
) -> None:
    """Start Kafka, PostgreSQL, topics, migrations and the three services in the background."""
    seconds = stack.up(_settings(), wait=wait)
    typer.echo(
        f"stack up in {seconds:.1f}s; `stax stack status`, `stax stack logs`, `stax stack down`"
    )


@stack_app.command("down")
def stack_down() -> None:
    """Stop the services, then Kafka and PostgreSQL (data is kept in STAX_HOME)."""
    stack.down(_settings())


@stack_app.command("status")
def stack_status() -> None:
    """One line per component: pid and address."""
    for row in stack.status(_settings()):
        typer.echo(
            f"{row.name:<9} {('pid ' + str(row.pid)) if row.pid else 'not running':<12} "
            f"{row.detail}"
        )


@stack_app.command("logs")
def stack_logs(
    service: Annotated[str | None, typer.Argument()] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n")] = 50,
) -> None:
    """Show the last lines of one service's log (or all of them)."""
    cfg = _settings()
    names = [service] if service else [*stack.SERVICES, "kafka", "postgres"]
    files = [str(_log_path(cfg, n)) for n in names if _log_path(cfg, n).exists()]
    if not files:
        raise typer.BadParameter(f"no logs yet in {cfg.home}")
    subprocess.run(["tail", "-n", str(lines), *(["-F"] if follow else []), *files], check=False)


def _log_path(cfg: stack.StackSettings, name: str) -> Path:
    if name == "kafka":
        return cfg.kafka.log_file
    if name == "postgres":
        return cfg.postgres.log_file
    return cfg.log_file(name)


@stack_app.command("start")
def stack_start(service: Service) -> None:
    """Start one service (after a crash, or to experiment)."""
    stack.start_service(_settings(), service)


@stack_app.command("stop")
def stack_stop(service: Service) -> None:
    """Stop one service gracefully."""
    if not stack.stop_service(_settings(), service):
        typer.echo(f"{service} was not running")


@stack_app.command("pid")
def stack_pid(service: Service) -> None:
    """Print one service's pid (exit 1 when it is not running)."""
    pid = stack.service_pid(_settings(), service)
    if pid is None:
        raise typer.Exit(1)
    typer.echo(pid)


@app.command("init")
def init() -> None:
    """Create the topics and apply every migration on STAX_KAFKA_BOOTSTRAP_SERVERS and
    STAX_DATABASE_URL (what a compose or Kubernetes deployment runs once before the services)."""
    stack.prepare(_settings())


@app.command("demo")
def demo(
    receiver_port: Annotated[int, typer.Option(help="Port of the demo webhook receiver")] = 8099,
    keep: Annotated[bool, typer.Option(help="Leave the stack running afterwards")] = False,
) -> None:
    """Start everything, submit a sample request, show it reach a signed webhook receiver."""
    run_demo(_settings(), receiver_port=receiver_port, keep=keep)


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
    principal, key = asyncio.run(keys.create(_settings(), role, label, partner, submitter))
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
    for info in asyncio.run(keys.list_all(_settings())):
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
    if not asyncio.run(keys.revoke(_settings(), key_id)):
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
    answer = erase_request(_settings(), request_id)
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
    granted = KafkaAdmin(_settings().kafka_access()).grant(kind_, tenant)
    typer.echo(f"granted {granted.principal}: topics {', '.join(granted.topics)}")
    typer.echo("librdkafka client properties (store the password now; it is not kept):", err=True)
    typer.echo(json.dumps(granted.client))


@kafka_app.command("revoke")
def kafka_revoke(kind: Kind, tenant: TenantId) -> None:
    """Remove the tenant's ACLs at once and make its password useless; connections opened
    before end at their next re-authentication (connections.max.reauth.ms)."""
    kind_, tenant = _tenant(kind, tenant)
    removed = KafkaAdmin(_settings().kafka_access()).revoke(kind_, tenant)
    typer.echo(f"revoked {kind_}-{tenant}: {removed} ACLs removed, password replaced")


@kafka_app.command("admin-config")
def kafka_admin_config() -> None:
    """Print the admin principal's librdkafka client properties (JSON, last line)."""
    typer.echo(json.dumps(_settings().kafka_access().librdkafka()))


def main() -> None:
    try:
        app()
    except (
        stack.StackError, KafkaSetupError, KafkaAdminError, PostgresSetupError, ValueError, OSError,
    ) as exc:  # fmt: skip
        typer.echo(f"stax: {exc}", err=True)
        raise SystemExit(1) from exc
