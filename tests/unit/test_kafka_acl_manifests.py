"""The deploy files and the docs say what shared.kafka_acls says: same principals, same ACLs.

Kubernetes states the ACLs as Strimzi `KafkaUser` resources, compose runs a broker whose security
settings match the local one, and docs/kafka-security.md prints the table: each is compared with
`SERVICE_ACLS`, `tenant_acls`, `tenant_topics` and `table()` here, without a broker. The Python
examples partners copy from docs/connecting-as-a-partner.md run against librdkafka's in-process
mock cluster (plaintext: the mock has no TLS, so only the settings they are given differ).
"""

from __future__ import annotations

import importlib.util
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from cryptography import x509

from deploy.local import kafka as local_kafka
from services.intake.adapters.reference_data import load_reference
from services.intake.domain import submissions
from shared import topics
from shared.envelope import build_record, parse_record
from shared.events import AssignmentAccepted, AssignmentOffered, AssignmentResponse, Role
from shared.kafka_acls import (
    SERVICE_ACLS,
    SERVICES,
    Acl,
    TenantKind,
    service_principal,
    table,
    tenant_acls,
    tenant_principal,
    tenant_topics,
)

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "deploy" / "compose"
TENANTS = K8S / "tenants"
CLUSTER = "stax"

_PATTERN = {"literal": "literal", "prefix": "prefixed"}
_OPERATION = {"Read": "read", "Write": "write"}


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _kind(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _docs(path) if d["kind"] == kind}


def _acl_rules(rules: list[dict[str, Any]]) -> list[Acl]:
    """Strimzi ACL rules as `Acl`s: one per operation, ALLOW for host `*` only."""
    acls = []
    for rule in rules:
        assert rule.get("type", "allow") == "allow", rule
        assert rule.get("host", "*") == "*", rule
        resource = rule["resource"]
        assert resource["type"] in ("topic", "group"), rule
        for operation in rule["operations"]:
            acls.append(
                Acl(
                    resource["type"],
                    resource["name"],
                    _PATTERN[resource.get("patternType", "literal")],  # type: ignore[arg-type]
                    _OPERATION[operation],  # type: ignore[arg-type]
                )
            )
    return sorted(acls)


def _user_acls(user: dict[str, Any]) -> list[Acl]:
    assert user["metadata"]["labels"]["strimzi.io/cluster"] == CLUSTER
    assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    authorization = user["spec"].get("authorization")
    if authorization is None:
        return []
    assert authorization["type"] == "simple"
    return _acl_rules(authorization["acls"])


# ------------------------------------------------------------------------------- Kubernetes


def test_each_service_kafka_user_grants_exactly_its_service_acls() -> None:
    users = _kind(K8S / "kafka-users.yaml", "KafkaUser")
    granted = {name: _user_acls(user) for name, user in users.items()}
    assert granted.pop("stax-admin") == []  # a super user: no ACLs of its own
    assert set(granted) == set(SERVICE_ACLS) == {service_principal(s) for s in SERVICES}
    for principal, acls in granted.items():
        assert acls == sorted(SERVICE_ACLS[principal]), principal


def test_kafka_cluster_has_one_tls_scram_listener_and_denies_by_default() -> None:
    kafka = _kind(K8S / "kafka.yaml", "Kafka")[CLUSTER]["spec"]["kafka"]
    assert kafka["listeners"] == [
        {
            "name": "tls",
            "port": 9093,
            "type": "internal",
            "tls": True,
            "authentication": {"type": "scram-sha-512"},
        }
    ]
    assert kafka["authorization"] == {"type": "simple", "superUsers": ["stax-admin"]}
    assert kafka["config"]["allow.everyone.if.no.acl.found"] is False
    assert kafka["config"]["connections.max.reauth.ms"] == 300_000
    assert kafka["config"]["auto.create.topics.enable"] is False
    pools = _kind(K8S / "kafka.yaml", "KafkaNodePool")
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == CLUSTER for p in pools.values())


def test_kafka_topics_are_the_contract_topics() -> None:
    found = {
        name: t["spec"]["partitions"]
        for name, t in _kind(K8S / "kafka-topics.yaml", "KafkaTopic").items()
    }
    assert found == topics.PARTITIONS


def _tenant(folder: Path) -> tuple[TenantKind, str]:
    kind, _, tenant = folder.name.partition("-")
    assert kind in ("partner", "submitter"), folder
    return ("partner" if kind == "partner" else "submitter"), tenant


def _tenant_folders() -> list[Path]:
    return sorted(p for p in TENANTS.iterdir() if p.is_dir())


def test_the_example_tenants_exist() -> None:
    assert {_tenant(f)[0] for f in _tenant_folders()} == {"partner", "submitter"}


@pytest.mark.parametrize("folder", _tenant_folders(), ids=lambda f: f.name)
def test_a_tenant_component_grants_what_stax_kafka_grant_grants(folder: Path) -> None:
    kind, tenant = _tenant(folder)
    expected = tenant_acls(kind, tenant)
    principal = tenant_principal(kind, tenant)
    assert folder.name == principal

    component = _docs(folder / "kustomization.yaml")[0]
    assert component["kind"] == "Component"
    resources = [d for f in component["resources"] for d in _docs(folder / f)]
    listed = {"kustomization.yaml", *component["resources"]}
    assert {p.name for p in folder.iterdir()} == listed

    users = {d["metadata"]["name"]: d for d in resources if d["kind"] == "KafkaUser"}
    assert list(users) == [principal]
    if "authorization" not in users[principal]["spec"]:  # revoked (docs/kafka-security.md)
        expected = {principal: []}
    assert _user_acls(users[principal]) == sorted(expected[principal])

    found_topics = {
        d["metadata"]["name"]: d["spec"]["partitions"]
        for d in resources
        if d["kind"] == "KafkaTopic"
    }
    assert found_topics == tenant_topics(kind, tenant)
    assert all(d["metadata"]["labels"]["strimzi.io/cluster"] == CLUSTER for d in resources)

    # The services' side: JSON patches appending rules to their KafkaUsers.
    added: dict[str, list[dict[str, Any]]] = {}
    for patch in component.get("patches", []):
        target = patch["target"]
        assert (target["group"], target["kind"]) == ("kafka.strimzi.io", "KafkaUser")
        for op in yaml.safe_load(patch["patch"]):
            assert (op["op"], op["path"]) == ("add", "/spec/authorization/acls/-")
            added.setdefault(target["name"], []).append(op["value"])
    services = {p: acls for p, acls in expected.items() if p != principal}
    assert {p: _acl_rules(rules) for p, rules in added.items()} == {
        p: sorted(acls) for p, acls in services.items()
    }


def _deployment_container(service: str) -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = next(d for d in _docs(K8S / f"{service}.yaml") if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


def _config() -> dict[str, str]:
    data: dict[str, str] = _kind(K8S / "config.yaml", "ConfigMap")["stax-config"]["data"]
    return data


def _check_kafka_identity(pod: dict[str, Any], container: dict[str, Any], principal: str) -> None:
    env = {e["name"]: e for e in container["env"]}
    assert env["STAX_KAFKA_SASL_USERNAME"]["value"] == principal
    secret = env["STAX_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert secret == {"name": principal, "key": "password"}  # the User Operator's Secret
    cafile = Path(_config()["STAX_KAFKA_SSL_CAFILE"])
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(cafile.parent))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == f"{CLUSTER}-cluster-ca-cert"
    assert volume["secret"]["items"] == [{"key": "ca.crt", "path": cafile.name}]


def test_each_deployment_connects_as_its_own_principal_over_tls() -> None:
    config = _config()
    assert config["STAX_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["STAX_KAFKA_BOOTSTRAP_SERVERS"] == f"{CLUSTER}-kafka-bootstrap:9093"
    for service in SERVICES:
        _check_kafka_identity(*_deployment_container(service), service_principal(service))


def test_the_init_job_connects_as_the_super_user() -> None:
    pod = _docs(K8S / "init-job.yaml")[0]["spec"]["template"]["spec"]
    _check_kafka_identity(pod, pod["containers"][0], "stax-admin")


def test_lag_autoscalers_authenticate_as_the_service_they_scale() -> None:
    docs = _docs(K8S / "autoscaling.yaml")
    auths = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "TriggerAuthentication"}
    for scaled in (d for d in docs if d["kind"] == "ScaledObject"):
        service = scaled["spec"]["scaleTargetRef"]["name"]
        trigger = scaled["spec"]["triggers"][0]
        assert trigger["metadata"]["sasl"] == "scram_sha512"
        assert trigger["metadata"]["tls"] == "enable"
        assert trigger["metadata"]["bootstrapServers"] == f"{CLUSTER}-kafka-bootstrap.stax.svc:9093"
        auth = auths[trigger["authenticationRef"]["name"]]
        refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["secretTargetRef"]}
        assert refs == {
            "password": (service_principal(service), "password"),
            "ca": (f"{CLUSTER}-cluster-ca-cert", "ca.crt"),
        }
        assert auth["env"] == [
            {"parameter": "username", "name": "STAX_KAFKA_SASL_USERNAME", "containerName": service}
        ]


# ------------------------------------------------------------------------------- compose


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] not in "#!")
    return {key.strip(): value.strip() for key, value in pairs}


def _compose_broker() -> dict[str, str]:
    return _properties((COMPOSE / "kafka" / "server.properties").read_text())


def _listener(entry: str) -> tuple[str, str]:
    """`NAME://host:port` as (NAME, host:port)."""
    found = re.fullmatch(r"(\w+)://(.*)", entry)
    assert found is not None, entry
    return found[1], found[2]


def test_compose_broker_has_no_plaintext_listener() -> None:
    props = _compose_broker()
    protocols = dict(p.split(":") for p in props["listener.security.protocol.map"].split(","))
    listeners = dict(_listener(entry) for entry in props["listeners"].split(","))
    assert set(listeners) == set(protocols)
    controller = props["controller.listener.names"]
    for name, protocol in protocols.items():
        if name == controller:  # authenticated (PLAIN) and on loopback only
            assert protocol == "SASL_PLAINTEXT"
            assert listeners[name].startswith("127.0.0.1:")
        else:
            assert protocol == "SASL_SSL", name
    assert "ANONYMOUS" not in props["super.users"]


def test_compose_broker_security_matches_the_local_broker(tmp_path: Path) -> None:
    local = _properties(local_kafka.server_properties(local_kafka.KafkaConfig(home=tmp_path)))
    compose = _compose_broker()
    same = [
        "authorizer.class.name",
        "allow.everyone.if.no.acl.found",
        "super.users",
        "sasl.enabled.mechanisms",
        "sasl.mechanism.inter.broker.protocol",
        "sasl.mechanism.controller.protocol",
        "listener.name.controller.sasl.enabled.mechanisms",
        "connections.max.reauth.ms",
        "metadata.log.max.snapshot.interval.ms",
        "ssl.keystore.type",
        "ssl.truststore.type",
        "auto.create.topics.enable",
    ]
    assert {k: compose[k] for k in same} == {k: local[k] for k in same}
    assert compose["authorizer.class.name"].endswith(".StandardAuthorizer")
    assert compose["allow.everyone.if.no.acl.found"] == "false"
    assert compose["super.users"] == "User:admin;User:broker;User:controller"


def test_compose_broker_template_placeholders_are_all_filled_by_its_start_script() -> None:
    template = (COMPOSE / "kafka" / "server.properties").read_text()
    script = (COMPOSE / "kafka" / "start-kafka.sh").read_text()
    placeholders = set(re.findall(r"@[A-Z_]+@", template))
    assert placeholders == {"@BROKER_PASSWORD@", "@CONTROLLER_PASSWORD@", "@EXTERNAL_HOST@",
                            "@EXTERNAL_PORT@", "@EXTERNAL_BIND@", "@INTERNAL_PORT@",
                            "@CONTROLLER_PORT@"}  # fmt: skip
    assert placeholders == set(re.findall(r"\$\{props//(@[A-Z_]+@)/", script))


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    return compose


def _interpolated(value: str) -> str:
    """The variable a required interpolation `${VAR:?message}` reads."""
    match = re.fullmatch(r"\$\{(\w+):\?[^}]+\}", value)
    assert match, f"{value!r} is not a required variable (no secret may be written in the file)"
    return match.group(1)


def test_compose_gives_each_service_its_own_principal() -> None:
    services = _compose()["services"]
    passwords = {}
    for service in SERVICES:
        env = services[service]["environment"]
        assert env["STAX_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["STAX_KAFKA_SASL_USERNAME"] == service_principal(service)
        passwords[service] = _interpolated(env["STAX_KAFKA_SASL_PASSWORD"])
        assert "kafka-ca:/etc/stax/kafka:ro" in services[service]["volumes"]
        assert env["STAX_KAFKA_SSL_CAFILE"] == "/etc/stax/kafka/ca.crt"
    assert passwords == {s: f"STAX_KAFKA_PASSWORD_{s.upper()}" for s in SERVICES}


def test_compose_init_provisions_as_admin_with_every_service_password() -> None:
    env = _compose()["services"]["init"]["environment"]
    assert env["STAX_KAFKA_SASL_USERNAME"] == "admin"
    assert _interpolated(env["STAX_KAFKA_SASL_PASSWORD"]) == "STAX_KAFKA_PASSWORD_ADMIN"
    for service in SERVICES:
        variable = f"STAX_KAFKA_PASSWORD_{service.upper()}"
        assert _interpolated(env[variable]) == variable


def test_every_required_compose_variable_is_in_env_example() -> None:
    text = (COMPOSE / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = (COMPOSE / ".env.example").read_text()
    documented = set(re.findall(r"^(\w+)=", example, flags=re.MULTILINE))
    assert required == documented
    assert ".env" in (COMPOSE / ".gitignore").read_text().split()


def test_compose_kafka_secrets_makes_a_broker_certificate_for_every_address(
    tmp_path: Path,
) -> None:
    spec = importlib.util.spec_from_file_location("make_tls", COMPOSE / "kafka" / "make_tls.py")
    assert spec is not None and spec.loader is not None
    make_tls: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_tls)
    tls, ca = tmp_path / "tls", tmp_path / "ca"

    make_tls.make(tls, ca, "kafka.example.org", 1000)
    keystore = tls / "broker-keystore.pem"
    assert make_tls.names_in(keystore) == {"kafka", "localhost", "127.0.0.1", "kafka.example.org"}
    assert keystore.stat().st_mode & 0o777 == 0o600
    assert (ca / "ca.crt").read_bytes() == (tls / "ca.crt").read_bytes()
    assert sorted(p.name for p in ca.iterdir()) == ["ca.crt"]  # never the broker's key
    issuer = x509.load_pem_x509_certificate((ca / "ca.crt").read_bytes()).subject
    assert x509.load_pem_x509_certificates(keystore.read_bytes())[0].issuer == issuer

    first = (ca / "ca.crt").read_bytes()
    make_tls.make(tls, ca, "kafka.example.org", 1000)  # every `up`: kept
    assert (ca / "ca.crt").read_bytes() == first
    make_tls.make(tls, ca, "other.example.org", 1000)  # another external name: made anew
    assert (ca / "ca.crt").read_bytes() != first
    assert "other.example.org" in make_tls.names_in(keystore)


# ------------------------------------------------------------------------------- docs


def _markdown_rows(text: str, heading: str) -> list[list[str]]:
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|")
    ]
    return [r for r in rows if r[0] != "principal" and not set(r[0]) <= {"-"}]


def test_the_acl_table_in_the_docs_is_table() -> None:
    rows = _markdown_rows((ROOT / "docs" / "kafka-security.md").read_text(), "The ACL table")
    assert rows == [[p, a.resource, a.name, a.pattern, a.operation] for p, a in table()]


PARTNER_DOC = ROOT / "docs" / "connecting-as-a-partner.md"


def _python_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PARTNER_DOC.read_text(), flags=re.DOTALL)


@pytest.fixture
def mock_kafka(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A librdkafka mock cluster, alive while the anchor client lives; the examples' settings
    file (`stax-kafka.json`, what `stax kafka grant` prints) points at it, in the cwd."""
    anchor = Producer({"test.mock.num.brokers": 1, "log_level": 3})
    broker = next(iter(anchor.list_topics(timeout=10).brokers.values()))
    bootstrap = f"{broker.host}:{broker.port}"
    (tmp_path / "stax-kafka.json").write_text(json.dumps({"bootstrap.servers": bootstrap}))
    monkeypatch.chdir(tmp_path)
    yield bootstrap
    anchor.flush(5)


def _produce(bootstrap: str, topic: str, records: list[Any]) -> None:
    """Into partition 0: a partner topic has one, the mock cluster makes more by default."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for record in records:
        producer.produce(
            topic, key=record.key, value=record.value, headers=list(record.headers.items()),
            partition=0,
        )  # fmt: skip
    assert producer.flush(10) == 0


def _headers(message: Message) -> list[tuple[str, bytes | None]]:
    """A consumed record's headers as `parse_record` takes them (the stubs allow str values)."""
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in pairs]


def _consume_one(bootstrap: str, topic: str) -> Message:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "test", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while datetime.now(UTC) < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                return msg
        raise AssertionError(f"nothing on {topic}")
    finally:
        consumer.close()


def test_the_partner_example_answers_an_offer_as_stax_expects(mock_kafka: str) -> None:
    partner = "scrc-kenya"
    request_id, assignment_id = uuid.uuid4(), uuid.uuid4()
    earlier = AssignmentAccepted(
        assignment_id=uuid.uuid4(), request_id=uuid.uuid4(), partner_id=partner
    )
    offer = AssignmentOffered(
        assignment_id=assignment_id, request_id=request_id, partner_id=partner,
        partner_name="SCRC Kenya (icipe)", role=Role.LEAD, score=0.8, reasons=["PEST"],
        covers_topics=["PEST"], respond_by=datetime.now(UTC) + timedelta(days=7),
    )  # fmt: skip
    mirrored = [
        build_record(e, source="/stax/notifier", subject=str(e.request_id))
        for e in (earlier, offer)
    ]
    _produce(mock_kafka, topics.partner_topic(partner), mirrored)

    example: dict[str, Any] = {"__name__": "answer_offers"}
    exec(compile(_python_examples()[0], str(PARTNER_DOC), "exec"), example)
    example["main"]("stax-kafka.json")

    answer = _consume_one(mock_kafka, topics.partner_responses_topic(partner))
    envelope = parse_record(_headers(answer), answer.key(), answer.value())
    assert envelope.type == AssignmentResponse.ce_type
    assert envelope.subject == str(request_id) == (answer.key() or b"").decode()
    response = AssignmentResponse.model_validate(envelope.data)
    assert (response.assignment_id, response.partner_id, response.decision) == (
        assignment_id, partner, "accept",
    )  # fmt: skip
    # Both records of its topic are committed in its group, the offer only once answered.
    group = Consumer({"bootstrap.servers": mock_kafka, "group.id": f"partner.{partner}.offers"})
    try:
        committed = group.committed([TopicPartition(topics.partner_topic(partner), 0)], timeout=10)
    finally:
        group.close()
    assert committed[0].offset == len(mirrored)


def test_the_upstream_example_submits_a_valid_request(mock_kafka: str) -> None:
    exec(compile(_python_examples()[1], str(PARTNER_DOC), "exec"), {"__name__": "submit"})

    sent = _consume_one(mock_kafka, topics.submitter_requests_topic("chm-portal"))
    envelope = parse_record(_headers(sent), sent.key(), sent.value())
    assert envelope.type == "ta.request.submitted"
    checked = submissions.validate(envelope.data, load_reference(), date(2026, 1, 1))
    assert not isinstance(checked, list), checked
    assert (sent.key() or b"").decode() == checked.external_ref
