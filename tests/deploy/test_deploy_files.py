"""Structural checks of docker-compose.yml and deploy/k8s that schema validation cannot express.

Schema and tool validation (compose config, compose-spec, hadolint, kubernetes-validate) is
deploy/validate.sh in CI; these tests pin what mlwright needs from the files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mlwright.queues import Resource
from mlwright.settings import Settings
from workers.definitions import deployment_options

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
K8S = [doc for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
       for doc in yaml.safe_load_all(path.read_text()) if doc]
SECRETISH = re.compile(r"(PASSWORD|PASSWD|PWD|TOKEN|SECRET|API_KEY|KEYS?)$|DATABASE_URL$")


def by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in K8S if d["kind"] == kind}


def test_every_queue_has_a_compose_worker_serving_it():
    for resource in Resource:
        service = COMPOSE["services"][f"worker-{resource.value}"]
        assert service["command"] == [resource.value]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"


def test_every_compose_service_has_a_healthcheck_and_waits_on_healthy_dependencies():
    services = COMPOSE["services"]
    for name, service in services.items():
        assert "healthcheck" in service, name
        for dep, cond in service.get("depends_on", {}).items():
            assert dep in services, (name, dep)
            assert cond == {"condition": "service_healthy"}, (name, dep)


def test_compose_environment_carries_no_plaintext_secrets():
    for name, service in COMPOSE["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRETISH.search(key) and str(value) not in {"true", "false"}:  # flags, not secrets
                # Either a ${VAR:?} the operator must supply or a pointer to a mounted secret file.
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", str(value)) or str(value).startswith("/run/secrets/"), \
                    (name, key)


def test_compose_mounts_nothing_outside_the_repository():
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert source.startswith("./"), (name, volume)
                assert (ROOT / source).resolve().is_relative_to(ROOT), (name, volume)
    for secret in COMPOSE["secrets"].values():
        assert (ROOT / secret["file"]).resolve().is_relative_to(ROOT / "deploy" / "secrets")


def test_temporal_dynamic_config_raises_the_transfer_poll_rate_like_the_dev_stack():
    config = yaml.safe_load((ROOT / "deploy" / "temporal" / "dynamicconfig.yaml").read_text())
    assert config["history.transferProcessorMaxPollRPS"][0]["value"] >= Settings().dev_transfer_poll_rps
    mount = COMPOSE["services"]["temporal"]["volumes"][0]
    assert mount.startswith("./deploy/temporal/dynamicconfig.yaml:")


def test_every_queue_has_a_k8s_deployment_pdb_and_backlog_scaler():
    deployments, pdbs, scalers = by_kind("Deployment"), by_kind("PodDisruptionBudget"), by_kind("ScaledObject")
    for resource in Resource:
        name = f"mlwright-worker-{resource.value}"
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == [resource.value]
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert "readinessProbe" in container and "livenessProbe" in container
        assert name in pdbs
        trigger = scalers[name]["spec"]["triggers"][0]
        assert trigger["type"] == "temporal" and trigger["metadata"]["taskQueue"] == resource.value
        assert scalers[name]["spec"]["scaleTargetRef"]["name"] == name


def test_only_training_lands_on_gpu_nodes():
    for name, deployment in by_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        if name == "mlwright-worker-training":
            assert pod["nodeSelector"] and pod["tolerations"]
            assert "nvidia.com/gpu" in pod["containers"][0]["resources"]["limits"]
        else:
            assert "nodeSelector" not in pod and "tolerations" not in pod


def test_k8s_secrets_come_from_secret_refs_never_literal_values():
    assert not by_kind("Secret"), "Secrets are created out of band, never committed"
    for deployment in by_kind("Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if SECRETISH.search(env["name"]):
                    assert "valueFrom" in env, env["name"]
    for key in by_kind("ConfigMap")["mlwright-settings"]["data"]:
        assert not SECRETISH.search(key), key


def test_worker_build_id_follows_the_pod_build_label():
    for deployment in by_kind("Deployment").values():
        if not deployment["metadata"]["name"].startswith("mlwright-worker-"):
            continue
        template = deployment["spec"]["template"]
        image_tag = template["spec"]["containers"][0]["image"].rsplit(":", 1)[1]
        assert template["metadata"]["labels"]["mlwright.io/build-id"] == image_tag
        env = {e["name"]: e for e in template["spec"]["containers"][0]["env"]}
        assert env["MLWRIGHT_WORKER_BUILD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == \
            "metadata.labels['mlwright.io/build-id']"


def test_worker_versioning_is_off_unless_configured_and_needs_both_settings():
    assert deployment_options(Settings()) == {}
    config = deployment_options(Settings(worker_deployment_name="mlwright", worker_build_id="1.0.0"))["deployment_config"]
    assert (config.version.deployment_name, config.version.build_id) == ("mlwright", "1.0.0")
    assert config.use_worker_versioning
    with pytest.raises(ValueError, match="MLWRIGHT_WORKER_BUILD_ID"):
        deployment_options(Settings(worker_deployment_name="mlwright"))
