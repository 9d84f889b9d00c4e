"""`stax-local`: the developer's launcher. A whole stack on one machine (Kafka, PostgreSQL, the
three services), the demo, and the operations commands (`stax`) pointed at that stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from deploy.local import stack
from deploy.local.demo import run_demo
from deploy.local.kafka import KafkaSetupError
from deploy.local.postgres import PostgresSetupError
from deploy.operations.kafka_admin import KafkaAdminError
from deploy.operations.settings import OperationsError

app = typer.Typer(
    help="STAX's local launcher (development only)", no_args_is_help=True, add_completion=False
)
stack_app = typer.Typer(
    help="The local stack: Kafka, PostgreSQL, topics, the three services", no_args_is_help=True
)
app.add_typer(stack_app, name="stack")

Service = Annotated[str, typer.Argument(help="intake, matcher or notifier")]


def _settings() -> stack.StackSettings:
    return stack.StackSettings()


@stack_app.command("up")
def stack_up(
    wait: Annotated[bool, typer.Option(help="Return once every service is ready")] = False,
) -> None:
    """Start Kafka, PostgreSQL, topics, migrations and the three services in the background."""
    seconds = stack.up(_settings(), wait=wait)
    typer.echo(f"stack up in {seconds:.1f}s; `stax-local stack status`, `… logs`, `… down`")


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


@app.command("demo")
def demo(
    receiver_port: Annotated[int, typer.Option(help="Port of the demo webhook receiver")] = 8099,
    keep: Annotated[bool, typer.Option(help="Leave the stack running afterwards")] = False,
) -> None:
    """Start everything, submit a sample request, show it reach a signed webhook receiver."""
    run_demo(_settings(), receiver_port=receiver_port, keep=keep)


@app.command(
    "ops",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def ops(context: typer.Context) -> None:
    """Run an operations command (`stax …`: keys, kafka, requests, init) on the local stack:
    `stax-local ops keys create --role operator`."""
    cfg = _settings()
    env = {**os.environ, **stack.admin_env(cfg)}
    command = [sys.executable, "-m", "deploy.operations", *context.args]
    done = subprocess.run(command, env=env, check=False)
    raise typer.Exit(done.returncode)


def main() -> None:
    try:
        app()
    except (
        stack.StackError, KafkaSetupError, PostgresSetupError, OperationsError, KafkaAdminError,
        ValueError, OSError,
    ) as exc:  # fmt: skip
        typer.echo(f"stax-local: {exc}", err=True)
        raise SystemExit(1) from exc
