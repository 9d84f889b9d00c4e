"""deploy/k8s, rendered by the real `kustomize build`, is valid for the cluster it targets.

Offline: every rendered document is checked against the Kubernetes JSON schemas (core kinds)
or its CRD's schema (Strimzi, KEDA), strictly, unknown fields included (validation.py). The
tenant components are rendered enabled, the way kustomization.yaml's comment says to enable
them. The last tests break a valid document on purpose: a check that cannot fail proves nothing.
tests/unit/test_deploy_manifests.py checks what the manifests say; this checks that a cluster
would take them as written.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import kustomize
from tests.deploy.validation import SCHEMAS, crd_schema_file, problems

K8S = kustomize.REPO / "deploy" / "k8s"
TENANTS = sorted(path.parent.name for path in (K8S / "tenants").glob("*/kustomization.yaml"))

Doc = dict[str, Any]


@pytest.fixture(scope="session")
def kustomize_bin(pytestconfig: pytest.Config) -> Path:
    try:
        binary = kustomize.binary(log=_progress(pytestconfig))
    except kustomize.KustomizeUnavailableError as error:
        pytest.fail(str(error), pytrace=False)  # never a skip: these tests must run
    # A cached binary from an older pin, or a half-copied file, fails here rather than later.
    assert kustomize.version(binary) == kustomize.VERSION
    return binary


@pytest.fixture(scope="session")
def rendered(kustomize_bin: Path) -> list[Doc]:
    return kustomize.build(kustomize_bin, K8S)


def _progress(config: pytest.Config) -> Callable[[str], None]:
    """Lines shown as they happen, output capture or not: the first build takes a minute."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        return print

    def show(line: str) -> None:
        # What capsys.disabled() does, without a function-scoped fixture in a session one.
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    return show


def _with_components(tmp_path: Path, tenants: list[str]) -> Path:
    """A copy of deploy/k8s whose kustomization lists the tenants under `components:`."""
    copied = tmp_path / "k8s"
    shutil.copytree(K8S, copied)
    kustomization = yaml.safe_load((copied / "kustomization.yaml").read_text())
    kustomization["components"] = [f"tenants/{tenant}" for tenant in tenants]
    (copied / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return copied


def _one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    """A deep copy of the first document of that kind (and name), free to break."""
    return copy.deepcopy(
        next(d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"]))
    )


def _all_problems(docs: list[Doc]) -> list[str]:
    return [problem for doc in docs for problem in problems(doc)]


def test_every_rendered_document_is_valid(rendered: list[Doc]) -> None:
    assert _all_problems(rendered) == []


def test_the_rendering_has_every_kind_it_deploys(rendered: list[Doc]) -> None:
    # Guards the test above against an empty or truncated rendering passing vacuously.
    kinds = {doc["kind"] for doc in rendered}
    assert {"Deployment", "Service", "Job", "Kafka", "KafkaNodePool", "KafkaTopic"} <= kinds
    assert {"KafkaUser", "ScaledObject", "TriggerAuthentication"} <= kinds
    assert {doc["metadata"].get("namespace") for doc in rendered if doc["kind"] != "Namespace"} == {
        "stax"
    }


def test_the_vendored_crd_schemas_are_exactly_those_the_manifests_use(
    rendered: list[Doc],
) -> None:
    # A schema no manifest uses is dead weight; a custom kind without one fails validation.
    used = {crd_schema_file(doc) for doc in rendered} & set(SCHEMAS.glob("*.json"))
    assert used == set(SCHEMAS.glob("*.json"))


@pytest.mark.parametrize("tenants", [[tenant] for tenant in TENANTS] + [TENANTS], ids="+".join)
def test_each_tenant_component_renders_valid(
    kustomize_bin: Path, tmp_path: Path, tenants: list[str], rendered: list[Doc]
) -> None:
    docs = kustomize.build(kustomize_bin, _with_components(tmp_path, tenants))
    assert _all_problems(docs) == []
    # The components did add something (their own users and topics), in the namespace.
    added = [doc for doc in docs if doc not in rendered]
    assert {doc["metadata"]["name"] for doc in added} >= set(tenants)
    assert {doc["metadata"]["namespace"] for doc in added} == {"stax"}


def test_there_are_tenant_components_to_check() -> None:
    assert len(TENANTS) >= 2


def test_without_go_the_build_fails_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kustomize, "TOOLS", tmp_path)  # nothing cached there
    monkeypatch.setenv("PATH", str(tmp_path))  # and no `go`
    with pytest.raises(kustomize.KustomizeUnavailableError, match="`go` is not on PATH"):
        kustomize.binary()


# --- The checks can fail: each valid document, broken one way, is reported ---------------------


def test_a_misspelled_field_in_a_deployment_is_reported(rendered: list[Doc]) -> None:
    deployment = _one(rendered, "Deployment", "matcher")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["imagePulPolicy"] = container.pop("imagePullPolicy", "IfNotPresent")
    assert problems(deployment) != []
    assert "imagePulPolicy" in " ".join(problems(deployment))


def test_a_wrong_type_in_a_service_is_reported(rendered: list[Doc]) -> None:
    service = _one(rendered, "Service", "intake")
    service["spec"]["ports"][0]["port"] = "eight thousand and one"
    assert problems(service) != []


def test_an_unknown_field_in_a_scaled_object_is_reported(rendered: list[Doc]) -> None:
    scaled = _one(rendered, "ScaledObject", "matcher")
    scaled["spec"]["maxReplicas"] = scaled["spec"].pop("maxReplicaCount")
    assert any("maxReplicas" in problem for problem in problems(scaled))


def test_a_kafka_topic_with_partitions_as_a_string_is_reported(rendered: list[Doc]) -> None:
    topic = _one(rendered, "KafkaTopic")
    topic["spec"]["partitions"] = "6"
    assert any("spec.partitions" in problem for problem in problems(topic))


def test_an_unknown_acl_field_in_a_kafka_user_is_reported(rendered: list[Doc]) -> None:
    user = _one(rendered, "KafkaUser", "stax-matcher")
    user["spec"]["authorization"]["acls"][0]["operation"] = ["Read"]
    assert any("acls.0" in problem for problem in problems(user))


def test_a_misspelled_label_field_in_custom_resource_metadata_is_reported(
    rendered: list[Doc],
) -> None:
    # Strimzi finds its resources by the label strimzi.io/cluster: a "lables" would orphan one.
    topic = _one(rendered, "KafkaTopic")
    topic["metadata"]["lables"] = topic["metadata"].pop("labels")
    assert any("metadata: " in problem and "lables" in problem for problem in problems(topic))


def test_free_form_kafka_config_stays_free_form(rendered: list[Doc]) -> None:
    # spec.kafka.config preserves unknown fields (any broker setting): tightening must not close it.
    kafka = _one(rendered, "Kafka")
    kafka["spec"]["kafka"]["config"]["some.future.broker.setting"] = 1
    assert problems(kafka) == []
    kafka["spec"]["kafka"]["listenerz"] = kafka["spec"]["kafka"].pop("listeners")
    assert problems(kafka) != []


def test_a_custom_kind_without_a_vendored_schema_is_reported(rendered: list[Doc]) -> None:
    unknown = _one(rendered, "KafkaTopic")
    unknown["kind"] = "KafkaConnect"
    assert problems(unknown) != []
