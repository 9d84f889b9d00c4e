"""Offline schema validation of rendered Kubernetes documents, as strict as `kubectl apply`.

Core kinds go to the Kubernetes JSON schemas that the `kubernetes-validate` package bundles, in
strict mode (an unknown field is an error). Custom resources go to the ``openAPIV3Schema`` of
their CRD, vendored under schemas/ (README.md there says from which release). An API server
prunes a field its structural schema does not declare, and kubectl's default server-side field
validation rejects it; either way a misspelled field never does what it says. So the CRD schemas
are tightened here: unknown fields fail wherever the CRD declares properties and does not set
``x-kubernetes-preserve-unknown-fields``. A custom resource's ``metadata`` (the CRD leaves it to
the API server) goes to Kubernetes' own ObjectMeta schema.

Not checked offline: the CRDs' CEL rules (``x-kubernetes-validations``) and anything that needs
a cluster (admission webhooks, references between objects).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
from jsonschema import Draft4Validator, Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from referencing import Registry, Resource

# The newest Kubernetes whose schemas kubernetes-validate 1.37.0 bundles.
KUBERNETES_VERSION = "1.37.0"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def problems(doc: dict[str, Any]) -> list[str]:
    """What is wrong with one document, each as ``Kind/name: path: message``; none when valid."""
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    schema = crd_schema_file(doc)
    found = _custom_problems(doc, schema) if schema.exists() else _core_problems(doc)
    return [f"{where}: {problem}" for problem in found]


def crd_schema_file(doc: dict[str, Any]) -> Path:
    """Where the vendored CRD schema of the document's kind is (or would be)."""
    # vendor_crds.py names them <group>_<version>_<kind in lower case>.json
    group, _, version = str(doc.get("apiVersion")).rpartition("/")
    return SCHEMAS / f"{group}_{version}_{str(doc.get('kind')).lower()}.json"


def _core_problems(doc: dict[str, Any]) -> list[str]:
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [_describe(error)]
    except kubernetes_validate.SchemaNotFoundError as error:
        # Neither a core kind nor a vendored CRD: a typo'd apiVersion, or a new custom kind
        # whose CRD schema must be vendored (vendor_crds.py).
        return [str(error.message)]
    return []


def _custom_problems(doc: dict[str, Any], schema: Path) -> list[str]:
    metadata = _object_meta_validator().iter_errors(doc.get("metadata", {}))
    return [_describe(error) for error in _crd_validator(schema).iter_errors(doc)] + [
        _describe(error, within="metadata") for error in metadata
    ]


def _describe(error: ValidationError, within: str = "") -> str:
    path = ".".join([within, *(str(part) for part in error.absolute_path)]).strip(".")
    return f"{path or '(document)'}: {error.message}"


@functools.cache
def _crd_validator(schema: Path) -> Validator:
    # Draft 4: OpenAPI 3.0's schema object is JSON Schema draft 4's validation vocabulary.
    return Draft4Validator(tightened(json.loads(schema.read_text())))


def tightened(schema: Any) -> Any:
    """A CRD schema that rejects what an API server would prune, and accepts ``nullable`` nulls.

    Only structural positions (properties, items, additionalProperties) are walked: an
    ``allOf``/``anyOf``/``oneOf`` branch of a structural schema may name a subset of its
    parent's properties to constrain them, so closing a branch would reject valid objects.
    """
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {name: tightened(sub) for name, sub in out["properties"].items()}
        if "additionalProperties" not in out and not out.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = tightened(out[key])
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


@functools.cache
def _object_meta_validator() -> Validator:
    # kubernetes-validate's own definitions file for the version the core kinds are checked at.
    folder = f"v{KUBERNETES_VERSION}-local-strict"
    definitions_file = (
        importlib.resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / folder
        / "_definitions.json"
    )
    definitions = Resource.from_contents(json.loads(definitions_file.read_text()))
    registry: Registry[Any] = definitions @ Registry()
    ref = f"{definitions.id()}#/$defs/{_OBJECT_META}"
    return Draft202012Validator({"$ref": ref}, registry=registry)
