"""Vendors the schemas of the custom resources deploy/k8s uses into tests/deploy/schemas/.

    python -m tests.deploy.vendor_crds path/to/crd.yaml [...]

Each CustomResourceDefinition in the files gives one JSON file per served version, named
``<group>_<version>_<kind>.json``: the version's ``openAPIV3Schema`` as the operator's release
ships it, less the ``description`` texts (they make up most of the bytes and validate nothing).
The test tightens the schema at load time (test_k8s_schemas.py), so the files stay a faithful,
reviewable copy of upstream. Where the CRDs came from: tests/deploy/schemas/README.md (Strimzi's
are generated from Maven Central artifacts first: strimzi_crds.py runs this on them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

SCHEMAS = Path(__file__).resolve().parent / "schemas"

# Keywords whose value is one schema, and those whose value is a list of schemas. `properties`
# maps names to schemas: its keys are field names, never keywords, so a field called
# "description" survives.
_ONE_SCHEMA = ("items", "additionalProperties", "not")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def without_descriptions(schema: Any) -> Any:
    """The schema with every ``description`` keyword removed, walking keywords, not field names."""
    if not isinstance(schema, dict):
        return schema  # `additionalProperties: true` and the like
    out = {key: value for key, value in schema.items() if key != "description"}
    if "properties" in out:
        out["properties"] = {
            name: without_descriptions(sub) for name, sub in out["properties"].items()
        }
    for key in _ONE_SCHEMA:
        if key in out:
            out[key] = without_descriptions(out[key])
    for key in _SCHEMA_LISTS:
        if key in out:
            out[key] = [without_descriptions(sub) for sub in out[key]]
    return out


def served_schemas(crd: dict[str, Any]) -> dict[str, Any]:
    """File name → schema, for each served version of one CRD."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"].lower()
    return {
        f"{group}_{version['name']}_{kind}.json": without_descriptions(
            version["schema"]["openAPIV3Schema"]
        )
        for version in spec["versions"]
        if version.get("served", False)
    }


def main(paths: list[str]) -> None:
    for path in paths:
        for doc in yaml.safe_load_all(Path(path).read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            for name, schema in served_schemas(doc).items():
                # Sorted, one key a line: a later release's update is a readable diff.
                text = json.dumps(schema, indent=1, sort_keys=True) + "\n"
                (SCHEMAS / name).write_text(text)
                print(f"{path} -> {SCHEMAS / name}")


if __name__ == "__main__":
    main(sys.argv[1:])
