"""The compose file and Kubernetes manifests point at things that exist in this repository."""

from __future__ import annotations

import importlib.util
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.containers import images
from deploy.containers.engine import ContainerError
from deploy.operations.cli import app as cli_app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICES = {"intake": 8001, "matcher": 8002, "notifier": 8003}


def _k8s(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()) if d]


def test_kustomization_lists_every_manifest_file() -> None:
    listed = set(_k8s("kustomization.yaml")[0]["resources"])
    present = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_each_deployment_runs_its_service_module_with_both_probes() -> None:
    for service, port in SERVICES.items():
        deployment = next(d for d in _k8s(f"{service}.yaml") if d["kind"] == "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["python", "-m", f"services.{service}"]
        assert importlib.util.find_spec(f"services.{service}.__main__") is not None
        assert container["ports"][0]["containerPort"] == port
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_lag_autoscalers_watch_the_services_real_consumer_groups() -> None:
    groups = {
        d["metadata"]["name"]: d["spec"]["triggers"][0]["metadata"]["consumerGroup"]
        for d in _k8s("autoscaling.yaml")
        if d["kind"] == "ScaledObject"
    }
    assert groups == {"matcher": "stax-matcher", "notifier": "stax-notifier"}


def test_init_steps_call_an_existing_cli_command() -> None:
    commands = {c.name for c in cli_app.registered_commands}
    job = _k8s("init-job.yaml")[0]["spec"]["template"]["spec"]["containers"][0]
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    assert job["command"] == ["stax", "init"] == compose["services"]["init"]["command"]
    assert "init" in commands


def test_compose_runs_the_three_services() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    for service in SERVICES:
        assert compose["services"][service]["command"] == ["python", "-m", f"services.{service}"]


def test_compose_mounts_files_that_exist() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    mounted = [
        volume.split(":")[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith(".")
    ]
    assert mounted  # the broker's start script, its config template, the TLS step
    for source in mounted:
        assert (DEPLOY / "compose" / source).is_file(), source


def test_k8s_tenant_examples_are_kustomize_components_named_in_the_kustomization() -> None:
    kustomization = (DEPLOY / "k8s" / "kustomization.yaml").read_text()
    for folder in sorted((DEPLOY / "k8s" / "tenants").iterdir()):
        component = _k8s(f"tenants/{folder.name}/kustomization.yaml")[0]
        assert component["kind"] == "Component"
        assert f"tenants/{folder.name}" in kustomization  # shown, commented out, to enable


def test_the_image_gets_operations_but_not_the_launcher_nor_the_benchmarks() -> None:
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    copied = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert "deploy/operations" in copied
    assert not [c for c in copied if c in ("deploy", "bench") or c.startswith("deploy/local")]


def test_the_compose_tls_step_needs_only_what_the_image_has() -> None:
    """kafka-secrets runs deploy/compose/kafka/make_tls.py in the production image."""
    script = (DEPLOY / "compose" / "kafka" / "make_tls.py").read_text()
    imported = set(re.findall(r"^from (deploy\.\S+) import", script, re.MULTILINE))
    assert imported == {"deploy.operations.kafka_tls"}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    return loaded


def _built_here(services: dict[str, Any]) -> dict[str, Any]:
    """The services `up` starts: not those of a profile (observability's public images,
    checked by tests/deploy/test_observability.py)."""
    return {name: service for name, service in services.items() if "profiles" not in service}


def test_compose_runs_the_images_make_images_builds_with_host_networking_only() -> None:
    services = _compose()["services"]
    built = {image.tag for image in images.images()}
    assert {s["image"] for s in _built_here(services).values()} == built
    # The machines this runs on allow loopback traffic only: no bridge, no published port.
    assert {s.get("network_mode") for s in services.values()} == {"host"}
    assert not [name for name, s in services.items() if "ports" in s]


def test_compose_builds_each_image_from_its_dockerfile_with_a_base_argument() -> None:
    for service in _built_here(_compose()["services"]).values():
        build = service["build"]
        image = next(i for i in images.images() if i.tag == service["image"])
        assert build["dockerfile"] == image.dockerfile
        assert "BASE_IMAGE" in build["args"]
        assert "ARG BASE_IMAGE=" in (DEPLOY.parent / image.dockerfile).read_text()


def test_replicas_of_a_service_get_port_spans_that_do_not_overlap() -> None:
    env = _compose()["x-service"]["environment"]
    tries = int(re.search(r":-(\d+)", env["STAX_HTTP_PORT_TRIES"]).group(1))  # type: ignore[union-attr]
    starts = sorted(
        int(re.search(r":-(\d+)", env[f"STAX_{s.upper()}_PORT"]).group(1))  # type: ignore[union-attr]
        for s in SERVICES
    )
    assert all(b - a >= tries for a, b in itertools.pairwise(starts))


def test_the_debian_mirror_is_read_from_either_apt_format(tmp_path: Path) -> None:
    deb822 = tmp_path / "debian.sources"
    deb822.write_text("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n")
    one_line = tmp_path / "sources.list"
    one_line.write_text("# comment\ndeb [arch=amd64] http://other.example/debian bookworm main\n")
    assert images.debian_mirror((deb822, one_line)) == "http://mirror.example/debian"
    assert images.debian_mirror((tmp_path / "absent", one_line)) == "http://other.example/debian"
    with pytest.raises(ContainerError, match="no Debian mirror"):
        images.debian_mirror((tmp_path / "absent",))
