"""`python -m deploy.containers engine|images|stop`: what `make images` and CI run."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from deploy.containers import engine, images
from deploy.local.stack import REPO

app = typer.Typer(help="Docker engine and images on this machine", no_args_is_help=True)
HOME = REPO / ".stax" / "docker"


@app.command("engine")
def start_engine() -> None:
    """Start dockerd (host networking only) unless an engine answers already."""
    engine.ensure(HOME)
    typer.echo("docker    engine answers")


@app.command("images")
def build_images(
    registry: Annotated[
        bool, typer.Option(help="Build on the registry's bases instead of a local Debian root")
    ] = False,
) -> None:
    """Build the STAX, Kafka and PostgreSQL images (the engine is started if needed)."""
    engine.ensure(HOME)
    took = images.build_all(local_base=not registry)
    typer.echo(f"images    {len(took)} built in {sum(took.values()):.0f}s")


@app.command("stop")
def stop_engine() -> None:
    """Stop the dockerd `engine` started."""
    if not engine.stop(HOME):
        typer.echo("docker    no dockerd of ours was running")


def main() -> None:
    try:
        app()
    except engine.ContainerError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
