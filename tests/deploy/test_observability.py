"""deploy/observability, offline: the alert rules pass `promtool check rules` and their unit tests
(`promtool test rules`), prometheus.yaml passes `promtool check config` with the targets its
start script writes, the dashboard's queries parse, every `stax_*` metric the alerts and the
dashboard use is one of the contract's (README, Observability) with its labels, and the contract
agrees with the metrics the code defines. The compose profile and the collector's configuration
are checked against each other. promtool is Debian's (package prometheus; .ci/run unpacks it):
without it these tests fail, saying so."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from shared.consuming import Outcome

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / "deploy" / "observability"
COMPOSE = REPO / "deploy" / "compose" / "compose.yaml"
SERVICES = ("intake", "matcher", "notifier")

# The metric names the dashboard and the alerts are written against: type and label names.
CONTRACT: dict[str, tuple[str, tuple[str, ...]]] = {
    "stax_time_to_first_offer_seconds": ("histogram", ()),
    "stax_time_to_match_seconds": ("histogram", ()),
    "stax_offers_total": ("counter", ("role", "outcome")),
    "stax_deliveries_total": ("counter", ("channel", "status")),
    "stax_dead_lettered_total": ("counter", ("service", "reason")),
    "stax_outbox_backlog": ("gauge", ("service",)),
    "stax_outbox_oldest_age_seconds": ("gauge", ("service",)),
    "stax_waiting_requests": ("gauge", ()),
    "stax_consumer_lag": ("gauge", ("group", "topic", "partition")),
    "stax_consumed_records_total": ("counter", ("consumer", "outcome")),
    "stax_outbox_quarantined_total": ("counter", ("schema",)),
}
# The values the queries may select (the domain's names; the consumers' names are read below).
VALUES: dict[tuple[str, str], set[str]] = {
    ("stax_offers_total", "role"): {"lead", "support"},
    ("stax_offers_total", "outcome"): {"offered", "accepted", "declined", "expired", "withdrawn"},
    ("stax_deliveries_total", "channel"): {"webhook", "email", "kafka"},
    ("stax_deliveries_total", "status"): {"delivered", "failed", "gave_up"},
    ("stax_consumed_records_total", "outcome"): {o.value for o in Outcome},
}
# Labels Prometheus adds to every scraped series, and the histograms' bucket label.
TARGET_LABELS = {"job", "instance"}


# ------------------------------------------------------------------------------ promtool


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not installed: it is in Debian's package prometheus; unpack only it "
            "(`apt-get download prometheus && dpkg -x prometheus_*.deb DIR`, as .ci/run does) "
            "and put DIR/usr/bin on PATH",
            pytrace=False,
        )  # never a skip: these tests must run
    return found


def _run(*cmd: str, cwd: Path = HERE, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{' '.join(cmd)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_alert_rules_are_valid(promtool: str) -> None:
    out = _run(promtool, "check", "rules", "prometheus-alerts.yaml")
    assert f"SUCCESS: {len(_rules())} rules found" in out


def test_each_alert_fires_on_its_failure_and_stays_quiet_on_healthy_series(promtool: str) -> None:
    assert "SUCCESS" in _run(promtool, "test", "rules", "prometheus-alerts.test.yaml")


def test_each_alert_is_tested_firing_and_quiet_and_says_what_to_do() -> None:
    groups = _yaml("prometheus-alerts.test.yaml")["tests"]
    tested = [case for group in groups for case in group["alert_rule_test"]]
    firing = {case["alertname"] for case in tested if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in tested if not case.get("exp_alerts")}
    names = {rule["alert"] for rule in _rules()}
    assert firing == quiet == names
    for rule in _rules():
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"].keys() == {"summary", "description"}, rule["alert"]


def test_prometheus_config_is_valid_with_the_targets_its_start_script_writes(
    promtool: str, tmp_path: Path
) -> None:
    env = {"STAX_INTAKE_PORT": "18001", "STAX_MATCHER_PORT": "18010", "STAX_HTTP_PORT_TRIES": "3"}
    folder = tmp_path / "targets"
    out = _run("sh", str(HERE / "prometheus-targets.sh"), str(folder), "echo", "started", env=env)
    assert out == "started\n"  # then it runs the command it was given: Prometheus
    targets = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}
    assert targets == {
        "intake": [{"targets": ["127.0.0.1:18001", "127.0.0.1:18002", "127.0.0.1:18003"]}],
        "matcher": [{"targets": ["127.0.0.1:18010", "127.0.0.1:18011", "127.0.0.1:18012"]}],
        "notifier": [{"targets": ["127.0.0.1:8020", "127.0.0.1:8021", "127.0.0.1:8022"]}],
    }
    config = _yaml("prometheus.yaml")
    jobs = {job["job_name"]: job["file_sd_configs"][0]["files"] for job in config["scrape_configs"]}
    assert jobs == {s: [f"/prometheus/targets/{s}.json"] for s in SERVICES}
    # The same configuration, reading the targets just written (promtool checks their paths).
    text = (HERE / "prometheus.yaml").read_text().replace("/prometheus/targets", str(folder))
    (tmp_path / "prometheus.yaml").write_text(text)
    shutil.copy(HERE / "prometheus-alerts.yaml", tmp_path)
    out = _run(promtool, "check", "config", str(tmp_path / "prometheus.yaml"), cwd=tmp_path)
    assert "WARNING" not in out and "SUCCESS: 1 rule files found" in out


def test_every_dashboard_query_parses(promtool: str, tmp_path: Path) -> None:
    """promtool parses them as recording rules, Grafana's interval variable made a duration."""
    rules = [
        {"record": f"dashboard:query:{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(_dashboard_exprs())
    ]
    queries = {"groups": [{"name": "dashboard", "rules": rules}]}
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump(queries))
    assert f"SUCCESS: {len(rules)} rules found" in _run(
        promtool, "check", "rules", "queries.yaml", cwd=tmp_path
    )


# ------------------------------------------------------------------------------ metric names


def test_every_stax_metric_the_alerts_and_the_dashboard_use_is_in_the_contract() -> None:
    exprs = [rule["expr"] for rule in _rules()] + _dashboard_exprs()
    used = {name for expr in exprs for name in re.findall(r"\bstax_[a-z0-9_]+", expr)}
    assert {name for name in used if _family(name) is None} == set()
    assert {_family(n) for n in used} == set(CONTRACT)  # each one is shown or alerted on


def test_the_queries_select_only_labels_and_values_their_metrics_have() -> None:
    consumers = _consumer_names()
    for expr in [rule["expr"] for rule in _rules()] + _dashboard_exprs():
        labels_here = set(TARGET_LABELS)
        for name, matchers in re.findall(r"\b(stax_[a-z0-9_]+)\{([^}]*)\}", expr):
            family = _family(name)
            assert family is not None, name
            labels_here |= set(CONTRACT[family][1])
            for label, value in re.findall(r'(\w+)\s*(?:=~|!~|!=|=)\s*"([^"]*)"', matchers):
                assert label in set(CONTRACT[family][1]) | TARGET_LABELS, (expr, label)
                allowed = consumers if label == "consumer" else VALUES.get((family, label))
                if allowed is not None:
                    assert set(value.split("|")) <= allowed, (expr, label, value)
        for name in re.findall(r"\bstax_[a-z0-9_]+", expr):
            family = _family(name)
            assert family is not None, name
            labels_here |= set(CONTRACT[family][1])
            if name.endswith("_bucket"):
                labels_here.add("le")
        if "stax_" in expr:
            for grouped in re.findall(r"\bby \(([^)]*)\)", expr):
                by = {label.strip() for label in grouped.split(",")}
                assert by <= labels_here, (expr, by - labels_here)


def test_the_contract_agrees_with_the_metrics_the_code_defines() -> None:
    for module in (f"services.{service}.app" for service in SERVICES):
        importlib.import_module(module)  # registers the module-level metrics
    registered = _registered()
    assert set(CONTRACT) <= set(registered), set(CONTRACT) - set(registered)
    for name, (kind, labels) in CONTRACT.items():
        assert registered[name] == (kind, labels), name


def _family(name: str) -> str | None:
    """The contract's name for a series name: a histogram's _bucket/_sum/_count, a counter's
    _created (prometheus_client serves one beside each counter and histogram)."""
    if name in CONTRACT:
        return name
    for suffix, kinds in SUFFIXES.items():
        base = name.removesuffix(suffix)
        if base != name:
            for candidate in (base, f"{base}_total"):
                if CONTRACT.get(candidate, ("", ()))[0] in kinds:
                    return candidate
    return None


SUFFIXES = {
    "_bucket": {"histogram"},
    "_sum": {"histogram"},
    "_count": {"histogram"},
    "_created": {"histogram", "counter"},
}


def _registered() -> dict[str, tuple[str, tuple[str, ...]]]:
    """stax_* metrics in prometheus_client's default registry: name (a counter's with _total),
    type and label names."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    # A private attribute: the registry has no public list of its collectors.
    for collector in set(REGISTRY._names_to_collectors.values()):
        name, kind = getattr(collector, "_name", ""), getattr(collector, "_type", "")
        if name.startswith("stax_"):
            full = f"{name}_total" if kind == "counter" else name
            found[full] = (kind, tuple(getattr(collector, "_labelnames", ())))
    return found


def _consumer_names() -> set[str]:
    """The names ReliableConsumers are given in the services' code (consumers.py)."""
    text = "".join(p.read_text() for p in REPO.glob("services/*/consumers.py"))
    return set(re.findall(r'"((?:intake|matcher|notifier)\.[a-z-]+)"', text))


# ------------------------------------------------------------------------------ dashboard


def test_the_dashboard_reads_the_prometheus_a_variable_chooses_in_panels_that_never_overlap() -> (
    None
):
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] >= 39 and dashboard["uid"] == "stax-pipeline"
    [variable] = dashboard["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        columns = range(grid["x"], grid["x"] + grid["w"])
        here = {(x, y) for x in columns for y in range(grid["y"], grid["y"] + grid["h"])}
        assert grid["x"] + grid["w"] <= 24 and not here & cells, panel["title"]
        cells |= here
        if panel["type"] != "row":
            assert panel["targets"] and panel["description"], panel["title"]
            for source in (panel, *panel["targets"]):
                assert source["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


# ------------------------------------------------------------------------------ compose


def test_the_observability_services_are_a_compose_profile_of_pinned_public_images() -> None:
    services = _compose()["services"]
    profiled = {name: s for name, s in services.items() if "profiles" in s}
    assert set(profiled) == {"otel-collector", "prometheus", "grafana"}
    for name, service in profiled.items():
        assert service["profiles"] == ["observability"], name
        tag = service["image"].partition(":")[2]
        assert tag and tag != "latest" and "build" not in service, name
        assert service["network_mode"] == "host", name


def test_tracing_is_off_unless_the_env_file_sets_it() -> None:
    env = _compose()["x-service"]["environment"]
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
    ):
        assert env[name] == f"${{{name}:-}}", name  # empty by default
    assert env["STAX_LOG_FORMAT"] == "${STAX_LOG_FORMAT:-json}"


def test_every_port_of_the_profile_is_an_env_variable_on_127_0_0_1() -> None:
    services = _compose()["services"]
    collector = services["otel-collector"]["environment"]
    for name in ("STAX_OTEL_GRPC_PORT", "STAX_OTEL_HTTP_PORT"):
        assert re.fullmatch(rf"\$\{{{name}:-\d+\}}", collector[name]), name
    listen = "--web.listen-address=127.0.0.1:${STAX_PROMETHEUS_PORT:-9090}"
    assert listen in services["prometheus"]["command"]
    grafana = services["grafana"]["environment"]
    assert grafana["GF_SERVER_HTTP_ADDR"] == "127.0.0.1"
    assert grafana["GF_SERVER_HTTP_PORT"] == "${STAX_GRAFANA_PORT:-3000}"
    assert grafana["STAX_PROMETHEUS_PORT"] == "${STAX_PROMETHEUS_PORT:-9090}"
    # Prometheus's targets come from the very variables (and defaults) the services listen on.
    service_env = _compose()["x-service"]["environment"]
    for name, value in services["prometheus"]["environment"].items():
        assert value == service_env[name], name


def test_the_collector_receives_on_loopback_and_sends_traces_to_both_exporters() -> None:
    config = _yaml("otel-collector.yaml")
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline == {
        "receivers": ["otlp"],
        "processors": ["memory_limiter", "batch"],  # the limiter first, as its docs ask
        "exporters": ["debug", "otlp"],
    }
    for kind in ("receivers", "processors", "exporters"):
        assert set(pipeline[kind]) <= set(config[kind]), kind
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "127.0.0.1:${env:STAX_OTEL_GRPC_PORT}"
    assert protocols["http"]["endpoint"] == "127.0.0.1:${env:STAX_OTEL_HTTP_PORT}"
    service = _compose()["services"]["otel-collector"]
    wanted = set(re.findall(r"\$\{env:(\w+)\}", (HERE / "otel-collector.yaml").read_text()))
    assert wanted == set(service["environment"])  # every variable it reads is given, no other
    [mount] = service["volumes"]
    source, target, _ = mount.split(":")
    assert (COMPOSE.parent / source).resolve() == HERE / "otel-collector.yaml"
    assert service["command"] == [f"--config={target}"]


def test_grafana_is_provisioned_with_the_prometheus_and_the_dashboard() -> None:
    grafana = _compose()["services"]["grafana"]
    mounts = dict(m.split(":")[:2] for m in grafana["volumes"] if m.startswith("."))
    targets = {(COMPOSE.parent / s).resolve().relative_to(HERE): t for s, t in mounts.items()}
    provisioning = Path("/etc/grafana/provisioning")
    for kind in ("datasources", "dashboards"):
        assert Path(targets[Path(f"grafana/{kind}.yaml")]).parent == provisioning / kind
    provider = _yaml("grafana/dashboards.yaml")["providers"][0]
    assert Path(targets[Path("grafana-dashboard.json")]).parent == Path(provider["options"]["path"])
    [source] = _yaml("grafana/datasources.yaml")["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"]
    assert source["url"] == "http://127.0.0.1:${STAX_PROMETHEUS_PORT}"


# ------------------------------------------------------------------------------ helpers


def _yaml(name: str) -> Any:
    return yaml.safe_load((HERE / name).read_text())


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _yaml("prometheus-alerts.yaml")["groups"] for rule in group["rules"]]


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((HERE / "grafana-dashboard.json").read_text())
    return loaded


def _dashboard_exprs() -> list[str]:
    return [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", [])]


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded
