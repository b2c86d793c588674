"""Validate every manifest in deploy/k8s: Kubernetes kinds with kubernetes-validate (strict), KEDA
kinds against the schemas vendored in deploy/k8s/schemas (no cluster, no download).

Run with the tools venv of deploy/validate.sh. Exit 1 naming the file, kind and first error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

SCHEMAS = Path(__file__).parent / "schemas"
# Temporal's scaler reads these; a typo in a metadata key is silently ignored by KEDA, so check it here.
TEMPORAL_SCALER_KEYS = {"endpoint", "namespace", "taskQueue", "queueTypes", "targetQueueSize",
                        "activationTargetQueueSize", "minConnectTimeout", "workerDeploymentName",
                        "workerDeploymentBuildId", "buildId", "selectAllActive", "selectUnversioned",
                        "unsafeSsl", "tlsServerName"}


def vendored_schema(doc: dict) -> Path:
    group, version = doc["apiVersion"].split("/")
    return SCHEMAS / f"{group}-{doc['kind'].lower()}-{version}.json"


def check(path: Path) -> list[str]:
    errors = []
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        what = f"{path}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if doc.get("apiVersion", "").startswith("keda.sh/"):
            schema = vendored_schema(doc)
            if not schema.exists():
                errors.append(f"{what}: no vendored schema {schema.name}")
                continue
            try:
                jsonschema.validate(doc, json.loads(schema.read_text()))
            except jsonschema.ValidationError as exc:
                errors.append(f"{what}: {exc.message} at {list(exc.absolute_path)}")
                continue
            for trigger in doc["spec"]["triggers"]:
                unknown = set(trigger["metadata"]) - TEMPORAL_SCALER_KEYS if trigger["type"] == "temporal" else set()
                if unknown:
                    errors.append(f"{what}: unknown temporal scaler metadata {sorted(unknown)}")
            continue
        try:
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{what}: {exc.message} at {list(exc.path)}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{what}: {exc}")
    return errors


def main(paths: list[str]) -> int:
    errors = [e for p in paths for e in check(Path(p))]
    for error in errors:
        sys.stderr.write(error + "\n")
    sys.stdout.write(f"{len(paths)} manifest files, {len(errors)} errors\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
